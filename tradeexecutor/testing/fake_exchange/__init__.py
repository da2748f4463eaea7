"""A fake Binance spot exchange (HTTP) for tests and for trying the executor locally.

Why: the executor talks to exchanges through ccxt; this package serves the part of
Binance's spot v3 REST API that ccxt's ``binance`` class uses, with prices driven
by candle data, exact Decimal balances, Binance's error codes, and injectable
network faults. Of ``tradeexecutor`` it uses only the candle type and loader and the
executor's ccxt client settings (so both sides read data and talk HTTP alike).

Layers: ``http_server`` (sockets, HTTP), ``endpoints`` (Binance's routes) and ``control``
(``/_fake/``) over ``params``/``auth`` (request parsing, signatures); ``matching`` (the engine)
over ``order_rules``, ``accounts`` (balances, orders, fills), ``book`` and ``markets``.

Typical use::

    with FakeExchange(candles, balances={"USDT": "10000"}) as ex:
        client = make_ccxt_client(ex.url, TEST_API_KEY, TEST_API_SECRET)
        client.create_order("BTC/USDT", "market", "buy", 0.01)
        ex.advance()
"""

from .accounts import Balance, Fill, Order
from .auth import TEST_API_KEY, TEST_API_SECRET
from .book import BookConfig, MarketSpec
from .candles import Candle, default_candles, load_candles_csv, wave_candles
from .errors import BinanceError
from .faults import Fault, FaultKind, RequestRecord
from .server import FakeExchange


def __getattr__(name: str) -> object:
    """The clients import ccxt (a third of a second); load them only when asked for, so the
    `trade-executor` command line, which registers `fake-exchange`, stays quick to start."""
    if name in ("ControlClient", "make_ccxt_client"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TEST_API_KEY",
    "TEST_API_SECRET",
    "Balance",
    "BinanceError",
    "BookConfig",
    "Candle",
    "ControlClient",
    "FakeExchange",
    "Fault",
    "FaultKind",
    "Fill",
    "MarketSpec",
    "Order",
    "RequestRecord",
    "default_candles",
    "load_candles_csv",
    "make_ccxt_client",
    "wave_candles",
]
