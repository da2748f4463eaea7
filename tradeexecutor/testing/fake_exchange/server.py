"""HTTP server speaking the Binance spot v3 REST subset that ccxt's ``binance`` uses.

Why: tests (and users trying the executor) need a real HTTP exchange that ccxt
talks to unmodified, running in-process or in another process, with prices that
follow candle data and with injectable network faults.

Binance endpoints (under ``/api/v3``): ping, time, exchangeInfo, depth, klines,
uiKlines, ticker/24hr, ticker/price, ticker/bookTicker, avgPrice (public);
order (POST/GET/DELETE), order/test, openOrders (GET/DELETE), allOrders,
myTrades, account (signed). Klines are served at the candle data's own interval
whatever ``interval`` is asked for, and only up to the current candle.

Control endpoints (no authentication; the server binds to loopback by default):

* ``GET /_fake/state`` - markets, balances, orders and trades (decimal strings)
* ``POST /_fake/advance`` ``{"n": 1}`` - move to the next candle(s)
* ``POST /_fake/deposit`` ``{"asset": "USDT", "amount": "100", "api_key": optional}``
* ``POST /_fake/accounts`` ``{"api_key": ..., "secret": ...}`` - add an account
* ``GET|POST|DELETE /_fake/faults`` - list, arm (one fault object, a list, or
  ``{"faults": [...]}``) or clear faults; see :mod:`.faults`
* ``GET|DELETE /_fake/requests`` - read or clear the request log
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, localcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from .accounts import Balance, Fill, Order
from .auth import TEST_API_KEY, TEST_API_SECRET, verify_request
from .book import BookConfig, MarketSpec
from .candles import CandleLike, default_candles, timestamp_ms
from .decimals import CTX, fmt, parse_decimal, to_decimal
from .errors import BinanceError
from .faults import Fault, FaultInjector, FaultKind, RequestLog, RequestRecord
from .matching import MatchingEngine
from .wire import (
    account_json,
    cancel_json,
    kline_row,
    new_order_json,
    order_json,
    state_json,
    ticker_24h_json,
    trade_json,
)

__all__ = ["FakeExchange"]

log = logging.getLogger(__name__)

_INTERVALS = frozenset(
    ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]
)
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
]
_RATE_LIMIT_BODY = {
    "code": -1003,
    "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
    "Please use WebSocket Streams for live updates to avoid polling the API.",
}

JsonHandler = Callable[[dict[str, str], str], Any]


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def _decimal(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_decimal(raw)
    except ValueError:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        ) from None


def _integer(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'."
        ) from None


def _limit(params: dict[str, str], default: int, maximum: int) -> int:
    value = _integer(params, "limit", default)
    assert value is not None
    if value < 1:
        raise BinanceError(
            -1100, "Illegal characters found in parameter 'limit'; legal range is '^[1-9][0-9]*$'."
        )
    return min(value, maximum)


class _Server(ThreadingHTTPServer):
    """Threading server that can also hang up on idle keep-alive connections at shutdown."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: _Api) -> None:
        self.api = api
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def hang_up_all(self) -> None:
        """Wake handler threads blocked on reads so server_close can join them."""
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request and hands it to the API object."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeBinance/1.0"
    timeout = 120
    server: _Server

    def setup(self) -> None:
        super().setup()
        # small header and body writes otherwise stall ~40 ms on Nagle + delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    def _dispatch(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_bytes(400, b"Bad Content-Length", "text/plain; charset=utf-8")
            self.close_connection = True
            return
        body = self.rfile.read(length).decode("utf-8", "replace") if length > 0 else ""
        url = urlsplit(self.path)
        if url.path.startswith("/_fake/"):
            self.server.api.handle_control(self, method, url.path, body)
        else:
            self.server.api.handle_binance(self, method, url.path, url.query, body)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def send_bytes(
        self, status: int, payload: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        """Write a complete answer; a client that already left is not an error."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def send_json(self, status: int, value: Any, headers: Mapping[str, str] | None = None) -> None:
        """Write a JSON answer."""
        self.send_bytes(status, _dumps(value), "application/json;charset=UTF-8", headers)

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Api:
    """Routes Binance and control requests to the engine, applying faults and logging."""

    def __init__(
        self,
        engine: MatchingEngine,
        faults: FaultInjector,
        request_log: RequestLog,
        stop_event: threading.Event,
        timestamp_tolerance_ms: int,
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.request_log = request_log
        self.stop_event = stop_event
        self.timestamp_tolerance_ms = timestamp_tolerance_ms
        self.public: dict[tuple[str, str], JsonHandler] = {
            ("GET", "/api/v3/ping"): lambda p, k: {},
            ("GET", "/api/v3/time"): lambda p, k: {"serverTime": self.engine.clock()},
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/depth"): self._depth,
            ("GET", "/api/v3/klines"): self._klines,
            ("GET", "/api/v3/uiKlines"): self._klines,
            ("GET", "/api/v3/ticker/24hr"): self._ticker_24h,
            ("GET", "/api/v3/ticker/price"): self._ticker_price,
            ("GET", "/api/v3/ticker/bookTicker"): self._book_ticker,
            ("GET", "/api/v3/avgPrice"): self._avg_price,
        }
        self.private: dict[tuple[str, str], JsonHandler] = {
            ("POST", "/api/v3/order"): self._new_order,
            ("POST", "/api/v3/order/test"): self._test_order,
            ("GET", "/api/v3/order"): self._get_order,
            ("DELETE", "/api/v3/order"): self._cancel_order,
            ("GET", "/api/v3/openOrders"): self._open_orders,
            ("DELETE", "/api/v3/openOrders"): self._cancel_open_orders,
            ("GET", "/api/v3/allOrders"): self._all_orders,
            ("GET", "/api/v3/myTrades"): self._my_trades,
            ("GET", "/api/v3/account"): self._account,
        }

    # -------------------------------------------------------------- plumbing

    def _sleep(self, ms: int | None) -> None:
        if ms:
            self.stop_event.wait(ms / 1000)

    def handle_binance(self, h: _Handler, method: str, path: str, query: str, body: str) -> None:
        """Serve one Binance API request, with faults applied around it."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        api_key = h.headers.get("X-MBX-APIKEY")
        record = RequestRecord(
            time=self.engine.clock(),
            method=method,
            path=path,
            api_key=api_key,
            client_order_id=params.get("newClientOrderId") or params.get("origClientOrderId"),
            params={k: v for k, v in params.items() if k != "signature"},
        )
        self.request_log.append(record)
        faults = self.faults.take(method, path)
        record.faults = [str(f.kind) for f in faults]
        kinds = {f.kind: f for f in faults}
        if FaultKind.LATENCY in kinds:
            self._sleep(kinds[FaultKind.LATENCY].delay_ms)
        if FaultKind.HTTP_5XX in kinds:
            record.status = kinds[FaultKind.HTTP_5XX].status
            h.send_bytes(record.status, b"Service Unavailable", "text/plain; charset=utf-8")
            return
        if FaultKind.HTTP_ERROR in kinds:
            record.status = kinds[FaultKind.HTTP_ERROR].status
            h.send_bytes(record.status, f"HTTP error {record.status}".encode(), "text/plain; charset=utf-8")
            return
        if FaultKind.RATE_LIMIT_429 in kinds:
            record.status = 429
            record.error_code = -1003
            retry_after = f"{kinds[FaultKind.RATE_LIMIT_429].retry_after:g}"
            h.send_json(429, _RATE_LIMIT_BODY, {"Retry-After": retry_after})
            return
        status, answer = self._route(method, path, query, body, params, api_key)
        if isinstance(answer, dict) and isinstance(answer.get("code"), int) and status >= 400:
            record.error_code = answer["code"]
        if FaultKind.DROP_RESPONSE in kinds:
            record.status = 0
            h.drop()
            return
        if FaultKind.TIMEOUT_AFTER_ACCEPT in kinds:
            self._sleep(kinds[FaultKind.TIMEOUT_AFTER_ACCEPT].delay_ms)
        record.status = status
        if answer is None:
            h.send_bytes(status, b"Not Found", "text/plain; charset=utf-8")
        else:
            h.send_json(status, answer)

    def _route(
        self, method: str, path: str, query: str, body: str, params: dict[str, str], api_key: str | None
    ) -> tuple[int, Any]:
        key = (method, path)
        try:
            if key in self.public:
                handler = self.public[key]
                with self.engine.lock, localcontext(CTX):
                    return 200, handler(params, api_key or "")
            if key in self.private:
                checked = verify_request(
                    api_key, query, body, params, self.engine.secret_for, self.timestamp_tolerance_ms
                )
                with self.engine.lock, localcontext(CTX):
                    return 200, self.private[key](params, checked)
        except BinanceError as err:
            return err.http_status, err.body()
        except Exception:  # a bug in the fake must still answer like a server would
            log.exception("fake exchange failed on %s %s", method, path)
            return 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
        return 404, None

    # ---------------------------------------------------------- public routes

    def _exchange_info(self, params: dict[str, str], _key: str) -> Any:
        wanted: list[str] | None = None
        if params.get("symbol"):
            wanted = [params["symbol"]]
        elif params.get("symbols"):
            try:
                wanted = [str(s) for s in orjson.loads(params["symbols"])]
            except orjson.JSONDecodeError:
                raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.") from None
        states = self.engine.markets() if wanted is None else [self.engine.market(s) for s in wanted]
        return {
            "timezone": "UTC",
            "serverTime": self.engine.clock(),
            "rateLimits": _RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [s.spec.exchange_info() for s in states],
        }

    def _depth(self, params: dict[str, str], _key: str) -> Any:
        state = self.engine.market(_required(params, "symbol"))
        return state.book.depth(_limit(params, 100, 5000))

    def _klines(self, params: dict[str, str], _key: str) -> Any:
        state = self.engine.market(_required(params, "symbol"))
        if _required(params, "interval") not in _INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = _limit(params, 500, 1000)
        start = _integer(params, "startTime")
        end = _integer(params, "endTime")
        rows = [
            c
            for c in state.visible_candles
            if (start is None or timestamp_ms(c) >= start) and (end is None or timestamp_ms(c) <= end)
        ]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [kline_row(c, state.interval_ms) for c in rows]

    def _ticker_24h(self, params: dict[str, str], _key: str) -> Any:
        now = self.engine.clock()
        if params.get("symbol"):
            return ticker_24h_json(self.engine.market(params["symbol"]), now)
        return [ticker_24h_json(s, now) for s in self.engine.markets()]

    def _ticker_price(self, params: dict[str, str], _key: str) -> Any:
        def one(state: Any) -> dict[str, str]:
            return {"symbol": state.spec.market_id, "price": fmt(state.candle.close)}

        if params.get("symbol"):
            return one(self.engine.market(params["symbol"]))
        return [one(s) for s in self.engine.markets()]

    def _book_ticker(self, params: dict[str, str], _key: str) -> Any:
        def one(state: Any) -> dict[str, str]:
            bid, ask = state.book.best("BUY"), state.book.best("SELL")
            zero = Decimal(0)
            return {
                "symbol": state.spec.market_id,
                "bidPrice": fmt(bid.price if bid else zero),
                "bidQty": fmt(bid.remaining if bid else zero),
                "askPrice": fmt(ask.price if ask else zero),
                "askQty": fmt(ask.remaining if ask else zero),
            }

        if params.get("symbol"):
            return one(self.engine.market(params["symbol"]))
        return [one(s) for s in self.engine.markets()]

    def _avg_price(self, params: dict[str, str], _key: str) -> Any:
        state = self.engine.market(_required(params, "symbol"))
        return {"mins": 5, "price": fmt(state.candle.close), "closeTime": self.engine.clock()}

    # --------------------------------------------------------- private routes

    def _place(
        self, params: dict[str, str], api_key: str, validate_only: bool
    ) -> tuple[Order | None, list[Fill]]:
        symbol = _required(params, "symbol")
        side = _required(params, "side")
        order_type = _required(params, "type")
        for unsupported in ("stopPrice", "icebergQty", "trailingDelta"):
            if params.get(unsupported):
                raise BinanceError(-1106, f"Parameter '{unsupported}' sent when not required.")
        return self.engine.place_order(
            api_key,
            market_id=symbol,
            side=side,
            order_type=order_type,
            quantity=_decimal(params, "quantity"),
            quote_order_qty=_decimal(params, "quoteOrderQty"),
            price=_decimal(params, "price"),
            time_in_force=params.get("timeInForce") or None,
            client_order_id=params.get("newClientOrderId") or None,
            validate_only=validate_only,
        )

    def _new_order(self, params: dict[str, str], api_key: str) -> Any:
        resp_type = params.get("newOrderRespType") or "FULL"
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newOrderRespType'.")
        order, fills = self._place(params, api_key, validate_only=False)
        assert order is not None
        return new_order_json(order, fills, resp_type)

    def _test_order(self, params: dict[str, str], api_key: str) -> Any:
        self._place(params, api_key, validate_only=True)
        return {}

    def _get_order(self, params: dict[str, str], api_key: str) -> Any:
        order = self.engine.get_order(
            api_key,
            _required(params, "symbol"),
            _integer(params, "orderId"),
            params.get("origClientOrderId") or None,
        )
        return order_json(order)

    def _cancel_order(self, params: dict[str, str], api_key: str) -> Any:
        order = self.engine.cancel_order(
            api_key,
            _required(params, "symbol"),
            _integer(params, "orderId"),
            params.get("origClientOrderId") or None,
        )
        cancel_id = params.get("newClientOrderId") or f"cancel{order.order_id}"
        return cancel_json(order, order.client_order_id, cancel_id, self.engine.clock())

    def _open_orders(self, params: dict[str, str], api_key: str) -> Any:
        return [order_json(o) for o in self.engine.open_orders(api_key, params.get("symbol") or None)]

    def _cancel_open_orders(self, params: dict[str, str], api_key: str) -> Any:
        orders = self.engine.cancel_all(api_key, _required(params, "symbol"))
        now = self.engine.clock()
        return [cancel_json(o, o.client_order_id, f"cancel{o.order_id}", now) for o in orders]

    def _all_orders(self, params: dict[str, str], api_key: str) -> Any:
        orders = self.engine.all_orders(
            api_key,
            _required(params, "symbol"),
            from_order_id=_integer(params, "orderId"),
            start_time=_integer(params, "startTime"),
            end_time=_integer(params, "endTime"),
            limit=_limit(params, 500, 1000),
        )
        return [order_json(o) for o in orders]

    def _my_trades(self, params: dict[str, str], api_key: str) -> Any:
        trades = self.engine.my_trades(
            api_key,
            _required(params, "symbol"),
            order_id=_integer(params, "orderId"),
            from_id=_integer(params, "fromId"),
            start_time=_integer(params, "startTime"),
            end_time=_integer(params, "endTime"),
            limit=_limit(params, 500, 1000),
        )
        return [trade_json(t) for t in trades]

    def _account(self, params: dict[str, str], api_key: str) -> Any:
        omit = params.get("omitZeroBalances", "").lower() == "true"
        return account_json(self.engine, self.engine.account(api_key), omit_zero=omit)

    # -------------------------------------------------------------- control

    def handle_control(self, h: _Handler, method: str, path: str, body: str) -> None:
        """Serve ``/_fake/...``; errors answer 400 with ``{"error": ...}``."""
        try:
            data: Any = orjson.loads(body) if body.strip() else {}
            status, answer = self._control(method, path, data)
        except (ValueError, TypeError, KeyError, AttributeError, BinanceError, orjson.JSONDecodeError) as exc:
            status, answer = 400, {"error": str(exc)}
        h.send_json(status, answer)

    def _control(self, method: str, path: str, data: Any) -> tuple[int, Any]:
        engine = self.engine
        if (method, path) == ("GET", "/_fake/state"):
            with engine.lock, localcontext(CTX):
                return 200, state_json(engine)
        if (method, path) == ("POST", "/_fake/advance"):
            moved = engine.advance(int(data.get("n", 1)))
            with engine.lock:
                prices = {
                    s.spec.symbol: {"index": s.index, "price": fmt(s.candle.close)} for s in engine.markets()
                }
            return 200, {"advanced": moved, "markets": prices}
        if (method, path) == ("POST", "/_fake/deposit"):
            asset = str(data["asset"]).upper()
            bal = engine.deposit(
                str(data.get("api_key") or TEST_API_KEY), asset, parse_decimal(str(data["amount"]))
            )
            return 200, {"asset": asset, "free": fmt(bal.free), "locked": fmt(bal.locked)}
        if (method, path) == ("POST", "/_fake/accounts"):
            engine.add_account(str(data["api_key"]), str(data["secret"]))
            return 200, {"api_key": data["api_key"]}
        if path == "/_fake/faults":
            if method == "POST":
                items = data.get("faults", [data]) if isinstance(data, dict) else data
                for item in items:
                    self.faults.add(Fault.from_json(item))
            elif method == "DELETE":
                self.faults.clear()
            elif method != "GET":
                return 405, {"error": "method not allowed"}
            return 200, {"faults": [f.to_json() for f in self.faults.active()]}
        if path == "/_fake/requests":
            if method == "DELETE":
                self.request_log.clear()
            elif method != "GET":
                return 405, {"error": "method not allowed"}
            return 200, [r.to_json() for r in self.request_log.records()]
        return 404, {"error": f"unknown control endpoint {method} {path}"}


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
        self._api = _Api(self.engine, self.faults, self.request_log, self._stop, timestamp_tolerance_ms)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeExchange:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._stop.clear()
        self._server = _Server((self._host, self._port), self._api)
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
