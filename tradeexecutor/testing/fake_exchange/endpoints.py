"""Binance's spot v3 REST endpoints, served from the matching engine, with faults applied.

Why: ccxt's ``binance`` class must work against the fake unmodified, so every route answers
with Binance's JSON shapes (:mod:`.wire`) and error codes, signed routes check the signature
(:mod:`.auth`), and every request is logged and may be faulted (:mod:`.faults`).

Routes (under ``/api/v3``): ping, time, exchangeInfo, depth, klines, uiKlines, ticker/24hr,
ticker/price, ticker/bookTicker, avgPrice (public); order (POST/GET/DELETE), order/test,
openOrders (GET/DELETE), allOrders, myTrades, account (signed). Klines are served at the candle
data's own interval whatever ``interval`` is asked for, and only up to the current candle.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .accounts import Fill, Order
from .auth import verify_request
from .candles import timestamp_ms
from .decimals import CTX, fmt
from .errors import BinanceError
from .faults import FaultInjector, FaultKind, RequestLog, RequestRecord
from .http_server import Responder
from .matching import MatchingEngine
from .params import decimal_param, integer_param, limit_param, required_param
from .wire import (
    account_json,
    cancel_json,
    kline_row,
    new_order_json,
    order_json,
    ticker_24h_json,
    trade_json,
)

__all__ = ["BinanceApi"]

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


class BinanceApi:
    """Routes Binance requests to the engine, applying faults and logging them."""

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

    def handle(self, h: Responder, method: str, path: str, query: str, body: str) -> None:
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
        state = self.engine.market(required_param(params, "symbol"))
        return state.book.depth(limit_param(params, 100, 5000))

    def _klines(self, params: dict[str, str], _key: str) -> Any:
        state = self.engine.market(required_param(params, "symbol"))
        if required_param(params, "interval") not in _INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = limit_param(params, 500, 1000)
        start = integer_param(params, "startTime")
        end = integer_param(params, "endTime")
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
        state = self.engine.market(required_param(params, "symbol"))
        return {"mins": 5, "price": fmt(state.candle.close), "closeTime": self.engine.clock()}

    # --------------------------------------------------------- private routes

    def _place(
        self, params: dict[str, str], api_key: str, validate_only: bool
    ) -> tuple[Order | None, list[Fill]]:
        symbol = required_param(params, "symbol")
        side = required_param(params, "side")
        order_type = required_param(params, "type")
        for unsupported in ("stopPrice", "icebergQty", "trailingDelta"):
            if params.get(unsupported):
                raise BinanceError(-1106, f"Parameter '{unsupported}' sent when not required.")
        return self.engine.place_order(
            api_key,
            market_id=symbol,
            side=side,
            order_type=order_type,
            quantity=decimal_param(params, "quantity"),
            quote_order_qty=decimal_param(params, "quoteOrderQty"),
            price=decimal_param(params, "price"),
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
            required_param(params, "symbol"),
            integer_param(params, "orderId"),
            params.get("origClientOrderId") or None,
        )
        return order_json(order)

    def _cancel_order(self, params: dict[str, str], api_key: str) -> Any:
        order = self.engine.cancel_order(
            api_key,
            required_param(params, "symbol"),
            integer_param(params, "orderId"),
            params.get("origClientOrderId") or None,
        )
        cancel_id = params.get("newClientOrderId") or f"cancel{order.order_id}"
        return cancel_json(order, order.client_order_id, cancel_id, self.engine.clock())

    def _open_orders(self, params: dict[str, str], api_key: str) -> Any:
        return [order_json(o) for o in self.engine.open_orders(api_key, params.get("symbol") or None)]

    def _cancel_open_orders(self, params: dict[str, str], api_key: str) -> Any:
        orders = self.engine.cancel_all(api_key, required_param(params, "symbol"))
        now = self.engine.clock()
        return [cancel_json(o, o.client_order_id, f"cancel{o.order_id}", now) for o in orders]

    def _all_orders(self, params: dict[str, str], api_key: str) -> Any:
        orders = self.engine.all_orders(
            api_key,
            required_param(params, "symbol"),
            from_order_id=integer_param(params, "orderId"),
            start_time=integer_param(params, "startTime"),
            end_time=integer_param(params, "endTime"),
            limit=limit_param(params, 500, 1000),
        )
        return [order_json(o) for o in orders]

    def _my_trades(self, params: dict[str, str], api_key: str) -> Any:
        trades = self.engine.my_trades(
            api_key,
            required_param(params, "symbol"),
            order_id=integer_param(params, "orderId"),
            from_id=integer_param(params, "fromId"),
            start_time=integer_param(params, "startTime"),
            end_time=integer_param(params, "endTime"),
            limit=limit_param(params, 500, 1000),
        )
        return [trade_json(t) for t in trades]

    def _account(self, params: dict[str, str], api_key: str) -> Any:
        omit = params.get("omitZeroBalances", "").lower() == "true"
        return account_json(self.engine, self.engine.account(api_key), omit_zero=omit)

    # -------------------------------------------------------------- control
