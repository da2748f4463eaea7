"""End-to-end tests of the fake Binance exchange with real ccxt over HTTP.

Why: the executor's exchange tests rely on this server behaving like Binance as
ccxt sees it (precision, balances, fills, errors and network faults), so every
behaviour is checked through an unmodified ccxt client.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from tradeexecutor.testing.fake_exchange import (
    TEST_API_KEY,
    TEST_API_SECRET,
    BookConfig,
    ControlClient,
    FakeExchange,
    load_candles_csv,
    make_ccxt_client,
)
from tradeexecutor.testing.fake_exchange.candles import timestamp_ms

SYMBOL = "BTC/USDT"
T0 = 1_700_000_000_000
MINUTE = 60_000
# ts, open, high, low, close, volume
CANDLES = [
    (T0, "20000", "20010", "19990", "20000", "10"),
    (T0 + MINUTE, "20000", "20005", "19900", "19950", "10"),
    (T0 + 2 * MINUTE, "19950", "20100", "19940", "20050", "0.5"),
    (T0 + 3 * MINUTE, "20050", "20060", "19800", "19850", "10"),
    (T0 + 4 * MINUTE, "19850", "19900", "19800", "19880", "10"),
]


@pytest.fixture
def exchange() -> Iterator[FakeExchange]:
    """A started fake exchange: 3 book levels of 0.5 BTC, 10% of candle volume fillable per candle."""
    ex = FakeExchange(
        CANDLES,
        balances={"USDT": "100000"},
        maker_fee="0.0005",
        taker_fee="0.001",
        book=BookConfig(levels=3, level_qty=Decimal("0.5")),
        max_fill_fraction="0.1",
    )
    ex.start()
    try:
        yield ex
    finally:
        ex.stop()


@pytest.fixture
def client(exchange: FakeExchange) -> ccxt.binance:
    """ccxt client with markets loaded."""
    c = make_ccxt_client(exchange.url, TEST_API_KEY, TEST_API_SECRET, timeout_ms=3000)
    c.load_markets()
    return c


def balances(client: ccxt.binance) -> dict[str, tuple[Decimal, Decimal]]:
    """Exact (free, locked) per asset from the raw /account answer."""
    info = client.fetch_balance()["info"]
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in info["balances"]}


# ---------------------------------------------------------------- market data


def test_load_markets_talks_only_to_server(exchange: FakeExchange) -> None:
    c = make_ccxt_client(exchange.url, TEST_API_KEY, TEST_API_SECRET)
    assert all(url.startswith(exchange.url) for url in c.urls["api"].values())
    seen: list[str] = []
    original = c.session.request

    def spy(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(url)
        return original(method, url, *args, **kwargs)

    c.session.request = spy  # type: ignore[method-assign]
    markets = c.load_markets()

    assert seen == [exchange.url + "/api/v3/exchangeInfo"]
    assert [r.path for r in exchange.requests()] == ["/api/v3/exchangeInfo"]
    assert list(markets) == [SYMBOL]
    market = markets[SYMBOL]
    assert market["spot"] and market["active"]
    assert (market["base"], market["quote"], market["id"]) == ("BTC", "USDT", "BTCUSDT")
    assert market["precision"]["price"] == 0.01
    assert market["precision"]["amount"] == 0.00001
    assert market["limits"]["amount"]["min"] == 0.00001
    assert market["limits"]["cost"]["min"] == 5
    assert c.amount_to_precision(SYMBOL, 0.123456789) == "0.12345"
    assert c.price_to_precision(SYMBOL, 20000.126) == "20000.13"


def test_ticker_order_book_and_ohlcv_follow_candles(exchange: FakeExchange, client: ccxt.binance) -> None:
    ticker = client.fetch_ticker(SYMBOL)
    assert ticker["last"] == 20000
    assert (ticker["bid"], ticker["ask"]) == (20000.00, 20000.01)

    book = client.fetch_order_book(SYMBOL)
    assert book["bids"] == [[20000.00, 0.5], [19999.99, 0.5], [19999.98, 0.5]]
    assert book["asks"] == [[20000.01, 0.5], [20000.02, 0.5], [20000.03, 0.5]]

    assert client.fetch_ohlcv(SYMBOL, "1m") == [[T0, 20000, 20010, 19990, 20000, 10]]
    assert exchange.advance(2) == 2
    ohlcv = client.fetch_ohlcv(SYMBOL, "1m")
    assert [row[0] for row in ohlcv] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert ohlcv[-1][4] == 20050
    assert client.fetch_ohlcv(SYMBOL, "1m", since=T0 + MINUTE, limit=1) == [
        [T0 + MINUTE, 20000, 20005, 19900, 19950, 10]
    ]
    assert client.fetch_ticker(SYMBOL)["last"] == 20050
    assert exchange.price() == Decimal("20050")
    # advancing past the data keeps the last candle
    assert exchange.advance(10) == 2
    assert client.fetch_ticker(SYMBOL)["last"] == 19880


# --------------------------------------------------------------------- orders


def test_market_buy_and_sell_update_balances_exactly(exchange: FakeExchange, client: ccxt.binance) -> None:
    buy = client.create_order(SYMBOL, "market", "buy", 0.1)
    assert buy["status"] == "closed"
    assert buy["filled"] == 0.1
    assert buy["info"]["fills"] == [
        {
            "price": "20000.01000000",
            "qty": "0.10000000",
            "commission": "0.00010000",
            "commissionAsset": "BTC",
            "tradeId": 1,
        }
    ]
    # 0.1 * 20000.01 = 2000.001 USDT spent; taker fee 0.1% of 0.1 BTC kept from the BTC received
    assert balances(client)["USDT"] == (Decimal("97999.999"), 0)
    assert balances(client)["BTC"] == (Decimal("0.0999"), 0)

    sell = client.create_order(SYMBOL, "market", "sell", 0.05)
    assert sell["status"] == "closed"
    assert sell["average"] == 20000.00
    # 0.05 * 20000 = 1000 USDT received minus 1 USDT fee
    assert exchange.balance("USDT").free == Decimal("98998.999")
    assert exchange.balance("BTC").free == Decimal("0.0499")

    trades = client.fetch_my_trades(SYMBOL)
    assert [(t["side"], t["takerOrMaker"], t["price"], t["amount"]) for t in trades] == [
        ("buy", "taker", 20000.01, 0.1),
        ("sell", "taker", 20000.00, 0.05),
    ]
    assert [(t["fee"]["currency"], t["fee"]["cost"]) for t in trades] == [("BTC", 0.0001), ("USDT", 1.0)]
    assert [t["order"] for t in trades] == [buy["id"], sell["id"]]
    assert [(t["info"]["quoteQty"], t["info"]["commission"]) for t in trades] == [
        ("2000.00100000", "0.00010000"),
        ("1000.00000000", "1.00000000"),
    ]


def test_market_order_with_quote_amount(exchange: FakeExchange, client: ccxt.binance) -> None:
    order = client.create_order(SYMBOL, "market", "buy", 0, None, {"quoteOrderQty": "100"})
    # 100 / 20000.01 -> 0.00499 BTC (lot size 0.00001), costing 99.8000499
    assert order["filled"] == 0.00499
    assert exchange.balance("USDT").free == Decimal("100000") - Decimal("0.00499") * Decimal("20000.01")


def test_big_market_order_walks_the_book_and_expires_partially_filled(
    exchange: FakeExchange, client: ccxt.binance
) -> None:
    order = client.create_order(SYMBOL, "market", "buy", 2)
    assert order["status"] == "expired"
    assert order["info"]["status"] == "EXPIRED"
    assert order["filled"] == 1.5
    assert [f["price"] for f in order["info"]["fills"]] == [
        "20000.01000000",
        "20000.02000000",
        "20000.03000000",
    ]
    assert exchange.balance("USDT").free == Decimal("100000") - Decimal("30000.03")
    assert client.fetch_order_book(SYMBOL)["asks"] == []
    exchange.advance()
    assert len(client.fetch_order_book(SYMBOL)["asks"]) == 3


def test_limit_order_rests_then_fills_on_advance(exchange: FakeExchange, client: ccxt.binance) -> None:
    order = client.create_order(SYMBOL, "limit", "buy", 0.1, 19950)
    assert order["status"] == "open"
    assert order["filled"] == 0
    assert balances(client)["USDT"] == (Decimal("98005"), Decimal("1995"))
    assert [o["id"] for o in client.fetch_open_orders(SYMBOL)] == [order["id"]]

    exchange.advance()  # low 19900 reaches the limit
    done = client.fetch_order(order["id"], SYMBOL)
    assert done["status"] == "closed"
    assert done["filled"] == 0.1
    assert done["average"] == 19950
    assert client.fetch_open_orders(SYMBOL) == []
    assert balances(client)["USDT"] == (Decimal("98005"), 0)
    assert balances(client)["BTC"] == (Decimal("0.09995"), 0)  # maker fee 0.05%
    (trade,) = client.fetch_my_trades(SYMBOL)
    assert trade["takerOrMaker"] == "maker"
    assert trade["fee"]["cost"] == 0.00005


def test_marketable_limit_order_fills_immediately_as_taker(
    exchange: FakeExchange, client: ccxt.binance
) -> None:
    order = client.create_order(SYMBOL, "limit", "buy", 0.7, 20000.02)
    # asks 0.5 @ 20000.01 and 0.2 @ 20000.02; the reserve at the limit price is refunded for the cheaper part
    assert order["status"] == "closed"
    assert exchange.balance("USDT").free == Decimal("100000") - Decimal("0.5") * Decimal(
        "20000.01"
    ) - Decimal("0.2") * Decimal("20000.02")
    assert exchange.balance("USDT").locked == 0
    assert {t["takerOrMaker"] for t in client.fetch_my_trades(SYMBOL)} == {"taker"}


def test_limit_order_partial_fill_over_several_candles(exchange: FakeExchange, client: ccxt.binance) -> None:
    order = client.create_order(SYMBOL, "limit", "buy", 1.5, 19960)
    exchange.advance()  # volume 10 * 10% = 1.0 fillable
    partial = client.fetch_order(order["id"], SYMBOL)
    assert partial["info"]["status"] == "PARTIALLY_FILLED"
    assert partial["status"] == "open"
    assert (partial["filled"], partial["remaining"]) == (1.0, 0.5)
    assert balances(client)["USDT"] == (Decimal("100000") - Decimal("1.5") * 19960, Decimal("0.5") * 19960)

    exchange.advance()  # volume 0.5 * 10% = 0.05
    assert client.fetch_order(order["id"], SYMBOL)["filled"] == 1.05
    exchange.advance()  # the rest
    done = client.fetch_order(order["id"], SYMBOL)
    assert done["status"] == "closed"
    assert [t["amount"] for t in client.fetch_my_trades(SYMBOL)] == [1.0, 0.05, 0.45]
    assert exchange.balance("BTC").free == Decimal("1.5") * (1 - Decimal("0.0005"))
    assert exchange.balance("USDT").locked == 0


def test_cancel_releases_reserved_funds(exchange: FakeExchange, client: ccxt.binance) -> None:
    order = client.create_order(SYMBOL, "limit", "buy", 0.1, 19000)
    assert balances(client)["USDT"] == (Decimal("98100"), Decimal("1900"))
    canceled = client.cancel_order(order["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert balances(client)["USDT"] == (Decimal("100000"), 0)
    assert client.fetch_open_orders(SYMBOL) == []
    assert client.fetch_order(order["id"], SYMBOL)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        client.cancel_order(order["id"], SYMBOL)
    exchange.advance(3)  # a canceled order never fills
    assert client.fetch_my_trades(SYMBOL) == []


def test_fetch_order_by_client_order_id(client: ccxt.binance) -> None:
    order = client.create_order(SYMBOL, "limit", "buy", 0.001, 19000, {"newClientOrderId": "my-order-1"})
    assert order["clientOrderId"] == "my-order-1"
    found = client.fetch_order(None, SYMBOL, {"clientOrderId": "my-order-1"})
    assert (found["id"], found["clientOrderId"], found["status"]) == (order["id"], "my-order-1", "open")
    assert client.fetch_order(order["id"], SYMBOL)["clientOrderId"] == "my-order-1"
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, SYMBOL, {"clientOrderId": "nobody"})
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order("999999", SYMBOL)
    canceled = client.cancel_order(None, SYMBOL, {"clientOrderId": "my-order-1"})
    assert canceled["info"]["origClientOrderId"] == "my-order-1"
    assert canceled["status"] == "canceled"


def test_duplicate_client_order_id_is_refused(exchange: FakeExchange, client: ccxt.binance) -> None:
    client.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "once-only"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "once-only"})
    posts = exchange.requests("/api/v3/order", "POST")
    assert [(r.client_order_id, r.status, r.error_code) for r in posts] == [
        ("once-only", 200, None),
        ("once-only", 400, -2010),
    ]
    assert len(exchange.orders()) == 1
    assert exchange.balance("BTC").free == Decimal("0.00999")


def test_fok_and_ioc_limit_orders(exchange: FakeExchange, client: ccxt.binance) -> None:
    # asks within 20000.02: 0.5 @ 20000.01 + 0.5 @ 20000.02 = 1.0 < 1.2
    fok = client.create_order(SYMBOL, "limit", "buy", 1.2, 20000.02, {"timeInForce": "FOK"})
    assert (fok["info"]["status"], fok["filled"]) == ("EXPIRED", 0)
    assert balances(client)["USDT"] == (Decimal("100000"), 0)
    ioc = client.create_order(SYMBOL, "limit", "buy", 1.2, 20000.02, {"timeInForce": "IOC"})
    assert (ioc["info"]["status"], ioc["filled"]) == ("EXPIRED", 1.0)
    assert balances(client)["USDT"] == (Decimal("100000") - Decimal("10000.005") - Decimal("10000.01"), 0)
    assert client.fetch_open_orders(SYMBOL) == []


def test_client_order_id_reuse_like_binance() -> None:
    with FakeExchange(CANDLES, balances={"USDT": "1000"}, reject_reused_client_order_ids=False) as ex:
        c = make_ccxt_client(ex.url, TEST_API_KEY, TEST_API_SECRET)
        c.create_order(SYMBOL, "limit", "buy", 0.001, 19000, {"clientOrderId": "again"})
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):  # still open
            c.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "again"})
        c.cancel_order(None, SYMBOL, {"clientOrderId": "again"})
        reused = c.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "again"})
        assert c.fetch_order(None, SYMBOL, {"clientOrderId": "again"})["id"] == reused["id"]


def test_insufficient_funds(exchange: FakeExchange, client: ccxt.binance) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(SYMBOL, "limit", "buy", 10, 19000)  # needs 190000 USDT
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order(SYMBOL, "market", "sell", 0.01)  # no BTC
    assert exchange.orders() == []
    assert exchange.balance("USDT").free == Decimal("100000")


def test_invalid_orders_and_symbols(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="NOTIONAL"):
        client.create_order(SYMBOL, "market", "buy", 0.0002)  # about 4 USDT < 5
    with pytest.raises(ccxt.InvalidOrder, match="NOTIONAL"):
        client.create_order(SYMBOL, "limit", "buy", 0.001, 100)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.privatePostOrder(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000015"}
        )
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        client.privatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "19000.005",
            }
        )
    with pytest.raises(ccxt.BadSymbol):
        client.publicGetTicker24hr({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.BadSymbol):
        client.privatePostOrder({"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"})


def test_post_only_order_that_would_take_is_rejected(client: ccxt.binance) -> None:
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        client.create_order(SYMBOL, "limit", "buy", 0.01, 20001, {"postOnly": True})
    maker = client.create_order(SYMBOL, "limit", "buy", 0.01, 19000, {"postOnly": True})
    assert maker["postOnly"] is True
    assert maker["status"] == "open"


def test_wrong_credentials_raise_authentication_error(exchange: FakeExchange) -> None:
    for key, secret in [
        ("not-a-key", TEST_API_SECRET),  # -2014 malformed key
        ("A" * 64, TEST_API_SECRET),  # -2015 unknown key
        (TEST_API_KEY, "wrong-secret"),  # -1022 bad signature
    ]:
        bad = make_ccxt_client(exchange.url, key, secret)
        with pytest.raises(ccxt.AuthenticationError):
            bad.fetch_balance()
    assert [r.error_code for r in exchange.requests("/api/v3/account")] == [-2014, -2015, -1022]
    assert [r.status for r in exchange.requests("/api/v3/account")] == [401, 401, 400]


def test_second_account_is_separate(exchange: FakeExchange, client: ccxt.binance) -> None:
    key, secret = "B" * 64, "other-secret"
    exchange.add_account(key, secret)
    exchange.deposit("USDT", "50", api_key=key)
    other = make_ccxt_client(exchange.url, key, secret)
    assert other.fetch_balance()["free"]["USDT"] == 50
    other.create_order(SYMBOL, "market", "buy", 0.001)
    assert client.fetch_my_trades(SYMBOL) == []
    assert len(other.fetch_my_trades(SYMBOL)) == 1


# --------------------------------------------------------------------- faults


def test_fault_latency(exchange: FakeExchange, client: ccxt.binance) -> None:
    exchange.add_fault("latency", delay_ms=300, path="/api/v3/ticker/24hr")
    started = time.monotonic()
    client.fetch_ticker(SYMBOL)
    slow = time.monotonic() - started
    started = time.monotonic()
    client.fetch_ticker(SYMBOL)
    fast = time.monotonic() - started
    assert slow >= 0.3
    assert fast < 0.2
    assert exchange.faults.active() == []


def test_fault_http_5xx(exchange: FakeExchange, client: ccxt.binance) -> None:
    exchange.add_fault("http_5xx", count=2, path="/api/v3/order")
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.create_order(SYMBOL, "market", "buy", 0.01)
    assert exchange.orders() == []  # not applied
    client.fetch_balance()  # other paths unaffected
    client.create_order(SYMBOL, "market", "buy", 0.01)
    assert [r.status for r in exchange.requests("/api/v3/order")] == [503, 503, 200]


def test_fault_rate_limit_429(exchange: FakeExchange, client: ccxt.binance) -> None:
    exchange.add_fault("rate_limit_429")
    with pytest.raises(ccxt.DDoSProtection):
        client.fetch_balance()
    assert client.fetch_balance()["free"]["USDT"] == 100000
    assert [(r.status, r.faults) for r in exchange.requests("/api/v3/account")] == [
        (429, ["rate_limit_429"]),
        (200, []),
    ]


def test_fault_timeout_after_accept_places_the_order(exchange: FakeExchange, client: ccxt.binance) -> None:
    impatient = make_ccxt_client(exchange.url, TEST_API_KEY, TEST_API_SECRET, timeout_ms=300)
    impatient.load_markets()
    exchange.add_fault("timeout_after_accept", delay_ms=1500)
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        impatient.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "slow-1"})
    assert time.monotonic() - started < 1.0
    found = client.fetch_order(None, SYMBOL, {"clientOrderId": "slow-1"})
    assert found["status"] == "closed"
    assert found["filled"] == 0.01
    assert [r.client_order_id for r in exchange.requests("/api/v3/order", "POST")] == ["slow-1"]
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):
        client.create_order(SYMBOL, "market", "buy", 0.01, None, {"clientOrderId": "slow-1"})
    assert len(exchange.orders()) == 1


def test_fault_drop_response_places_the_order(exchange: FakeExchange, client: ccxt.binance) -> None:
    exchange.add_fault("drop_response", path="/api/v3/order", method="POST")
    with pytest.raises(ccxt.NetworkError) as info:
        client.create_order(SYMBOL, "limit", "buy", 0.01, 19000, {"clientOrderId": "dropped-1"})
    assert not isinstance(info.value, ccxt.RequestTimeout)
    found = client.fetch_order(None, SYMBOL, {"clientOrderId": "dropped-1"})
    assert found["status"] == "open"
    assert exchange.balance("USDT").locked == Decimal("190")
    (record,) = exchange.requests("/api/v3/order", "POST")  # sent once, no transparent retry
    assert (record.status, record.faults, record.client_order_id) == (0, ["drop_response"], "dropped-1")


# ---------------------------------------------------------- control over HTTP


def test_control_endpoints(exchange: FakeExchange, client: ccxt.binance) -> None:
    control = ControlClient(exchange.url)
    assert control.deposit("USDT", "0.5")["free"] == "100000.50000000"
    assert control.deposit("ETH", "2")["free"] == "2.00000000"
    order = client.create_order(SYMBOL, "limit", "buy", 0.1, 19950)

    moved = control.advance(1)
    assert moved == {"advanced": 1, "markets": {SYMBOL: {"index": 1, "price": "19950.00000000"}}}

    state = control.state()
    assert state["markets"][SYMBOL]["index"] == 1
    account = state["accounts"][TEST_API_KEY]
    assert account["balances"]["USDT"] == {"free": "98005.50000000", "locked": "0.00000000"}
    assert account["balances"]["BTC"]["free"] == "0.09995000"
    assert account["balances"]["ETH"]["free"] == "2.00000000"
    assert [(o["orderId"], o["status"]) for o in account["orders"]] == [(int(order["id"]), "FILLED")]
    assert [(t["price"], t["qty"], t["isMaker"]) for t in account["trades"]] == [
        ("19950.00000000", "0.10000000", True)
    ]

    armed = control.add_fault("http_5xx", path="/api/v3/time", status=502)
    assert armed == [
        {"kind": "http_5xx", "count": 1, "path": "/api/v3/time", "method": None, "delay_ms": 0, "status": 502, "retry_after": 1.0}
    ]
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_time()
    assert control.faults() == []
    control.add_fault("latency", count=3, delay_ms=10)
    assert control.faults()[0]["count"] == 3
    control.clear_faults()
    assert control.faults() == []
    with pytest.raises(RuntimeError, match="400"):
        control.add_fault("meteor_strike")

    logged = control.requests()
    posts = [r for r in logged if (r["method"], r["path"]) == ("POST", "/api/v3/order")]
    assert [(p["status"], p["params"]["price"], p["api_key"]) for p in posts] == [
        (200, "19950", TEST_API_KEY)
    ]
    assert all("signature" not in r["params"] for r in logged)
    assert not any(r["path"].startswith("/_fake") for r in logged)
    control.clear_requests()
    assert control.requests() == []

    key = "C" * 64
    control.add_account(key, "s3cret")
    control.deposit("USDT", "7", api_key=key)
    assert make_ccxt_client(exchange.url, key, "s3cret").fetch_balance()["free"]["USDT"] == 7


# ------------------------------------------------------------- data and CLI


def test_csv_loader_layouts(tmp_path: Path) -> None:
    unnamed = tmp_path / "goog_like.csv"
    unnamed.write_text(
        ",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600\n"
    )
    candles = load_candles_csv(unnamed)
    assert [timestamp_ms(c) for c in candles] == [1092873600000, 1092960000000]
    assert (candles[0].close, candles[1].volume) == (Decimal("100.34"), Decimal("11428600"))

    named = tmp_path / "intraday.csv"
    named.write_text(
        "Date,Open,High,Low,Close,Volume\n2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n"
    )
    (candle,) = load_candles_csv(named)
    assert timestamp_ms(candle) == 1492592400000
    assert candle.low == Decimal("1.07083")

    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2017-04-19,1,0.5,2,1,1\n")
    with pytest.raises(ValueError, match="line 2: high 0.5 is below low 2"):  # the executor's own loader
        load_candles_csv(bad)


def test_backtesting_goog_csv_drives_the_exchange() -> None:
    spec = importlib.util.find_spec("backtesting")  # locate without importing (pandas is slow)
    if spec is None or spec.origin is None:
        pytest.skip("backtesting package not installed")
    path = Path(spec.origin).parent / "test" / "GOOG.csv"
    candles = load_candles_csv(path)
    assert candles[0].close == Decimal("100.34")
    with FakeExchange(candles, markets=["GOOG/USD"], balances={"USD": "1000"}) as ex:
        c = make_ccxt_client(ex.url, TEST_API_KEY, TEST_API_SECRET)
        assert c.fetch_ticker("GOOG/USD")["last"] == 100.34
        ex.advance()
        assert c.fetch_ticker("GOOG/USD")["last"] == 108.31
        assert c.fetch_ohlcv("GOOG/USD", "1d")[-1][0] == 1092960000000


def test_cli_serves_in_another_process(tmp_path: Path) -> None:
    data = tmp_path / "candles.csv"
    data.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-01 00:00:00,40000,40100,39900,40000,100\n"
        "2024-01-01 00:01:00,40000,40200,39950,40100,100\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    stderr_path = tmp_path / "stderr.txt"
    command = [
        sys.executable,
        "-m",
        "tradeexecutor.testing.fake_exchange",
        "--port",
        "0",
        "--data",
        str(data),
        "--deposit",
        "USDT=1000",
        "--symbol",
        "BTC/USDT",
    ]
    cwd = Path(__file__).resolve().parents[1]
    with (
        open(stderr_path, "w") as stderr,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=cwd) as proc,
    ):
        assert proc.stdout is not None
        try:
            first = proc.stdout.readline()
            assert first.startswith("Fake Binance exchange at http://127.0.0.1:"), first
            url = first.split(" at ")[1].split(" ")[0]
            assert TEST_API_KEY in proc.stdout.readline()
            control = ControlClient(url)
            c = make_ccxt_client(url, TEST_API_KEY, TEST_API_SECRET)
            assert c.fetch_balance()["free"]["USDT"] == 1000
            assert control.advance()["markets"]["BTC/USDT"]["price"] == "40100.00000000"
            assert c.fetch_ticker("BTC/USDT")["last"] == 40100
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        assert "stopped" in proc.stdout.read()
    assert code == 0, stderr_path.read_text()


def test_cli_refuses_a_port_out_of_range_and_one_in_use_with_one_line() -> None:
    import socket

    command = [sys.executable, "-m", "tradeexecutor.testing.fake_exchange"]
    cwd = Path(__file__).resolve().parents[1]
    done = subprocess.run([*command, "--port", "99999"], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "fake-exchange: error: argument --port: port 99999 is out of range: give 0 to 65535 (0 picks a free one)"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([*command, "--port", str(port)], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 2
    assert done.stderr == f"fake-exchange: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use\n"


def test_http_error_and_retry_after_faults(exchange: FakeExchange) -> None:
    client = make_ccxt_client(exchange.url, TEST_API_KEY, TEST_API_SECRET)
    exchange.add_fault("http_error", path="/api/v3/ticker/price", status=404)
    with pytest.raises(ccxt.ExchangeNotAvailable, match="404 Not Found HTTP error 404"):
        client.public_get_ticker_price({"symbol": "BTCUSDT"})
    exchange.add_fault("rate_limit_429", path="/api/v3/time", retry_after=0.25)
    with pytest.raises(ccxt.DDoSProtection):
        client.fetch_time()
    assert client.last_response_headers["Retry-After"] == "0.25"
    (record,) = exchange.requests("/api/v3/time")
    assert (record.status, record.error_code) == (429, -1003)
