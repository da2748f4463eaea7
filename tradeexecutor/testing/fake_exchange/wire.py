"""Binance spot v3 JSON shapes for the fake exchange's state.

Why: ccxt parses Binance's exact field names (``cummulativeQuoteQty``, ``fills``,
``isMaker`` ...); keeping every response shape in one module makes it easy to
compare with Binance's documentation.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from .accounts import Account, Fill, Order
from .candles import Candle, timestamp_ms
from .decimals import fmt
from .markets import MarketState
from .matching import MatchingEngine

__all__ = [
    "account_json",
    "cancel_json",
    "kline_row",
    "new_order_json",
    "order_json",
    "state_json",
    "ticker_24h_json",
    "trade_json",
]

_DAY_MS = 86_400_000


def order_json(order: Order) -> dict[str, Any]:
    """GET /api/v3/order (and openOrders/allOrders rows)."""
    return {
        "symbol": order.market_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price or Decimal(0)),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.cumm_quote_qty),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fmt(Decimal(0)),
        "icebergQty": fmt(Decimal(0)),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": True,
        "workingTime": order.time,
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def new_order_json(order: Order, fills: list[Fill], resp_type: str) -> dict[str, Any]:
    """POST /api/v3/order answer for newOrderRespType ACK, RESULT or FULL."""
    ack = {
        "symbol": order.market_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }
    if resp_type == "ACK":
        return ack
    result = {
        **ack,
        "price": fmt(order.price or Decimal(0)),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "cummulativeQuoteQty": fmt(order.cumm_quote_qty),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "workingTime": order.time,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    if resp_type == "RESULT":
        return result
    result["fills"] = [
        {
            "price": fmt(f.price),
            "qty": fmt(f.qty),
            "commission": fmt(f.commission),
            "commissionAsset": f.commission_asset,
            "tradeId": f.trade_id,
        }
        for f in fills
    ]
    return result


def cancel_json(
    order: Order, orig_client_order_id: str, cancel_client_order_id: str, now: int
) -> dict[str, Any]:
    """DELETE /api/v3/order answer; ``clientOrderId`` is the cancel request's own id, as on Binance."""
    return {
        "symbol": order.market_id,
        "origClientOrderId": orig_client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_order_id,
        "transactTime": now,
        "price": fmt(order.price or Decimal(0)),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "cummulativeQuoteQty": fmt(order.cumm_quote_qty),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def trade_json(fill: Fill) -> dict[str, Any]:
    """GET /api/v3/myTrades row."""
    return {
        "symbol": fill.market_id,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": fmt(fill.price),
        "qty": fmt(fill.qty),
        "quoteQty": fmt(fill.quote_qty),
        "commission": fmt(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time,
        "isBuyer": fill.is_buyer,
        "isMaker": fill.is_maker,
        "isBestMatch": True,
    }


def account_json(engine: MatchingEngine, account: Account, omit_zero: bool = False) -> dict[str, Any]:
    """GET /api/v3/account; lists every asset of every market plus anything deposited."""
    assets: list[str] = []
    for state in engine.markets():
        for asset in (state.spec.base, state.spec.quote):
            if asset not in assets:
                assets.append(asset)
    assets += [a for a in account.balances if a not in assets]
    balances = []
    for asset in assets:
        bal = account.balances.get(asset)
        free = bal.free if bal else Decimal(0)
        locked = bal.locked if bal else Decimal(0)
        if omit_zero and free == 0 and locked == 0:
            continue
        balances.append({"asset": asset, "free": fmt(free), "locked": fmt(locked)})
    bps = int(engine.maker_fee * 10000)
    return {
        "makerCommission": bps,
        "takerCommission": int(engine.taker_fee * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(engine.maker_fee),
            "taker": fmt(engine.taker_fee),
            "buyer": fmt(Decimal(0)),
            "seller": fmt(Decimal(0)),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": account.update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": zlib.crc32(account.api_key.encode()),
    }


def kline_row(candle: Candle, interval_ms: int) -> list[Any]:
    """One /api/v3/klines row; taker volumes are reported as half the volume."""
    quote_volume = candle.close * candle.volume
    open_ms = timestamp_ms(candle)
    return [
        open_ms,
        fmt(candle.open),
        fmt(candle.high),
        fmt(candle.low),
        fmt(candle.close),
        fmt(candle.volume),
        open_ms + interval_ms - 1,
        fmt(quote_volume),
        1 if candle.volume > 0 else 0,
        fmt(candle.volume / 2),
        fmt(quote_volume / 2),
        "0",
    ]


def ticker_24h_json(state: MarketState, now: int) -> dict[str, Any]:
    """GET /api/v3/ticker/24hr from the candles of the last day of candle time."""
    candles = state.visible_candles
    current = candles[-1]
    window_start = timestamp_ms(current) + state.interval_ms - _DAY_MS
    first = len(candles) - 1
    while first > 0 and timestamp_ms(candles[first - 1]) >= window_start:
        first -= 1
    window = candles[first:]
    prev_close = candles[first - 1].close if first > 0 else window[0].open
    volume = sum((c.volume for c in window), Decimal(0))
    quote_volume = sum((c.close * c.volume for c in window), Decimal(0))
    open_price = window[0].open
    change = current.close - open_price
    bid = state.book.best("BUY")
    ask = state.book.best("SELL")
    return {
        "symbol": state.spec.market_id,
        "priceChange": fmt(change),
        "priceChangePercent": f"{(change / open_price * 100):.3f}",
        "weightedAvgPrice": fmt((quote_volume / volume) if volume else current.close),
        "prevClosePrice": fmt(prev_close),
        "lastPrice": fmt(current.close),
        "lastQty": fmt(Decimal(0)),
        "bidPrice": fmt(bid.price if bid else Decimal(0)),
        "bidQty": fmt(bid.remaining if bid else Decimal(0)),
        "askPrice": fmt(ask.price if ask else Decimal(0)),
        "askQty": fmt(ask.remaining if ask else Decimal(0)),
        "openPrice": fmt(open_price),
        "highPrice": fmt(max(c.high for c in window)),
        "lowPrice": fmt(min(c.low for c in window)),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote_volume),
        "openTime": now - _DAY_MS,
        "closeTime": now,
        "firstId": -1,
        "lastId": -1,
        "count": len(window),
    }


def state_json(engine: MatchingEngine) -> dict[str, Any]:
    """GET /_fake/state: markets, balances, orders and trades with decimal strings."""
    markets = {}
    for state in engine.markets():
        c = state.candle
        markets[state.spec.symbol] = {
            "id": state.spec.market_id,
            "index": state.index,
            "candles": len(state.candles),
            "price": fmt(c.close),
            "candle": {
                "timestamp": timestamp_ms(c),
                "open": fmt(c.open),
                "high": fmt(c.high),
                "low": fmt(c.low),
                "close": fmt(c.close),
                "volume": fmt(c.volume),
            },
            "book": state.book.depth(len(state.book.asks)),
        }
    accounts = {}
    for account in engine.accounts():
        accounts[account.api_key] = {
            "balances": {
                asset: {"free": fmt(b.free), "locked": fmt(b.locked)} for asset, b in account.balances.items()
            },
            "orders": [order_json(o) for o in account.orders.values()],
            "trades": [trade_json(t) for t in account.trades],
        }
    return {"time": engine.clock(), "markets": markets, "accounts": accounts}
