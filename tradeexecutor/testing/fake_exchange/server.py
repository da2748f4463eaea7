"""The fake Binance spot exchange: an HTTP server in a thread, with test helpers.

Why: tests (and users trying the executor) need a real HTTP exchange that ccxt
talks to unmodified, running in-process or in another process, with prices that
follow candle data and with injectable network faults. :class:`FakeExchange` wires the layers:
:mod:`.http_server` (HTTP), :mod:`.endpoints` (Binance's routes), :mod:`.control` (``/_fake/``)
and :mod:`.matching` (the engine and its books).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, localcontext
from typing import Any

from .accounts import Balance, Fill, Order
from .auth import TEST_API_KEY, TEST_API_SECRET
from .book import BookConfig, MarketSpec
from .candles import CandleLike, default_candles
from .control import ControlApi
from .decimals import CTX, to_decimal
from .endpoints import BinanceApi
from .faults import Fault, FaultInjector, FaultKind, RequestLog, RequestRecord
from .http_server import ExchangeHttpServer
from .matching import MatchingEngine
from .wire import state_json

__all__ = ["FakeExchange"]


def _resolve_markets(
    candles: Sequence[CandleLike] | Mapping[str, Sequence[CandleLike]] | None,
    markets: Sequence[str | MarketSpec] | None,
) -> list[tuple[MarketSpec, Sequence[CandleLike]]]:
    if markets is None:
        markets = list(candles.keys()) if isinstance(candles, Mapping) else ["BTC/USDT"]
    specs = [m if isinstance(m, MarketSpec) else MarketSpec.from_symbol(m) for m in markets]
    resolved: list[tuple[MarketSpec, Sequence[CandleLike]]] = []
    for spec in specs:
        if candles is None:
            series: Sequence[CandleLike] = default_candles()
        elif isinstance(candles, Mapping):
            if spec.symbol not in candles:
                raise ValueError(f"no candles for {spec.symbol}")
            series = candles[spec.symbol]
        else:
            series = candles
        resolved.append((spec, series))
    return resolved


class FakeExchange:
    """A fake Binance spot exchange over HTTP; use as a context manager.

    ``candles`` is one series used by every market, a mapping symbol -> series, or
    None for a generated series. ``markets`` are ``"BASE/QUOTE"`` strings or
    :class:`MarketSpec` (default: BTC/USDT, or the mapping's keys). ``balances``
    are deposited into the built-in account (``api_key``/``api_secret``).
    Port 0 picks a free port; read it from :attr:`url` after :meth:`start`.
    """

    def __init__(
        self,
        candles: Sequence[CandleLike] | Mapping[str, Sequence[CandleLike]] | None = None,
        *,
        markets: Sequence[str | MarketSpec] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = TEST_API_KEY,
        api_secret: str = TEST_API_SECRET,
        balances: Mapping[str, Decimal | str | int | float] | None = None,
        maker_fee: Decimal | str | float = Decimal("0.001"),
        taker_fee: Decimal | str | float = Decimal("0.001"),
        book: BookConfig | None = None,
        max_fill_fraction: Decimal | str | float = Decimal(1),
        fill_on_touch: bool = True,
        reject_reused_client_order_ids: bool = True,
        clock: Callable[[], int] | None = None,
        timestamp_tolerance_ms: int = 300_000,
    ) -> None:
        self.engine = MatchingEngine(
            _resolve_markets(candles, markets),
            maker_fee=to_decimal(maker_fee),
            taker_fee=to_decimal(taker_fee),
            book=book,
            max_fill_fraction=to_decimal(max_fill_fraction),
            fill_on_touch=fill_on_touch,
            reject_reused_client_order_ids=reject_reused_client_order_ids,
            clock=clock,
        )
        self.api_key = api_key
        self.api_secret = api_secret
        self.engine.add_account(api_key, api_secret)
        for asset, amount in (balances or {}).items():
            self.engine.deposit(api_key, asset, to_decimal(amount))
        self.faults = FaultInjector()
        self.request_log = RequestLog()
        self._host = host
        self._port = port
        self._stop = threading.Event()
        self._binance = BinanceApi(self.engine, self.faults, self.request_log, self._stop, timestamp_tolerance_ms)
        self._control = ControlApi(self.engine, self.faults, self.request_log)
        self._server: ExchangeHttpServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeExchange:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._stop.clear()
        self._server = ExchangeHttpServer((self._host, self._port), self._binance.handle, self._control.handle)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-exchange",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, hang up open connections, wake sleeping faults and join threads."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop.set()
        server.shutdown()
        server.hang_up_all()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        """Bound host."""
        return self._address()[0]

    @property
    def port(self) -> int:
        """Bound port (the real one when constructed with port 0)."""
        return self._address()[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (Binance paths go below it)."""
        host, port = self._address()
        return f"http://{host}:{port}"

    def _address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("FakeExchange is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    # --------------------------------------------------------- test helpers

    def advance(self, n: int = 1) -> int:
        """Move to the next candle ``n`` times, filling resting orders; returns steps taken."""
        return self.engine.advance(n)

    def deposit(self, asset: str, amount: Decimal | str | int | float, api_key: str | None = None) -> Balance:
        """Credit free balance (negative amounts withdraw)."""
        return self.engine.deposit(api_key or self.api_key, asset, to_decimal(amount))

    def set_balance(
        self, asset: str, amount: Decimal | str | int | float, api_key: str | None = None
    ) -> Balance:
        """Set free balance outright."""
        return self.engine.set_balance(api_key or self.api_key, asset, to_decimal(amount))

    def balance(self, asset: str, api_key: str | None = None) -> Balance:
        """A copy of an asset's balance."""
        with self.engine.lock:
            bal = self.engine.account(api_key or self.api_key).balances.get(asset.upper(), Balance())
            return Balance(bal.free, bal.locked)

    def add_account(self, api_key: str, secret: str) -> None:
        """Register another API key."""
        self.engine.add_account(api_key, secret)

    def price(self, symbol: str | None = None) -> Decimal:
        """Current candle close of a market (default: the first)."""
        with self.engine.lock:
            state = self.engine.market_by_symbol(symbol) if symbol else self.engine.markets()[0]
            return state.candle.close

    def orders(self, api_key: str | None = None) -> list[Order]:
        """All orders of an account, oldest first (live objects; read under no assumptions)."""
        with self.engine.lock:
            return list(self.engine.account(api_key or self.api_key).orders.values())

    def trades(self, api_key: str | None = None) -> list[Fill]:
        """All fills of an account, oldest first."""
        with self.engine.lock:
            return list(self.engine.account(api_key or self.api_key).trades)

    def add_fault(
        self,
        kind: FaultKind | str,
        count: int = 1,
        *,
        path: str | None = None,
        method: str | None = None,
        delay_ms: int | None = None,
        status: int = 503,
        retry_after: float = 1.0,
    ) -> Fault:
        """Arm a fault for the next ``count`` matching requests (see :mod:`.faults`)."""
        return self.faults.add(
            Fault(
                FaultKind(kind), count=count, path=path, method=method, delay_ms=delay_ms, status=status,
                retry_after=retry_after,
            )
        )  # fmt: skip

    def clear_faults(self) -> None:
        """Disarm all faults."""
        self.faults.clear()

    def requests(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Logged API requests, optionally filtered by exact path and method."""
        return self.request_log.records(path, method)

    def state(self) -> dict[str, Any]:
        """Same JSON as ``GET /_fake/state``."""
        with self.engine.lock, localcontext(CTX):
            return state_json(self.engine)
