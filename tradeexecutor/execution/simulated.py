"""The simulated venue for backtests and paper trading.

* Market orders fill at the next bar's open (or, with `fill_at="close"`, at the bar's close when
  submitted), moved against us by `slippage_bps`, paying the taker fee.
* Limit orders fill when a later bar trades through the limit, at the limit or at the bar's open
  when it gaps through, paying the maker fee; they expire at `expires_at`.
* An order the reserve or the position cannot cover is rejected with the reason, at submission
  and again at fill time (prices move between the two).
Fees are charged in the quote asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from tradeexecutor.execution.venue import Record
from tradeexecutor.market.candles import Candle
from tradeexecutor.state.events import (
    FillReceived,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderSubmitted,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.position import Direction
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import OrderType, Side, Trade, TradeStatus

_PRICE_STEP = Decimal("0.00000001")
_TEN_THOUSAND = Decimal(10000)


@dataclass(frozen=True, slots=True)
class SimulatedVenueConfig:
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)
    fill_at: Literal["next_open", "close"] = "next_open"

    def __post_init__(self) -> None:
        for name in ("taker_fee", "maker_fee", "slippage_bps"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or value < 0:
                raise ValueError(f"{name} must be a non-negative Decimal, got {value!r}")
        if self.taker_fee >= 1 or self.maker_fee >= 1:
            raise ValueError("fees are fractions (0.001 = 0.1%), not percentages")
        if self.fill_at not in ("next_open", "close"):
            raise ValueError(f"fill_at must be 'next_open' or 'close', got {self.fill_at!r}")


class SimulatedVenue:
    name = "simulated"

    def __init__(self, config: SimulatedVenueConfig | None = None) -> None:
        self.config = config or SimulatedVenueConfig()
        self._open_orders: dict[int, Trade] = {}

    def recover(self, state: State, record: Record, at: datetime) -> None:
        """Trades planned but never submitted before a restart were never sent: cancel them."""
        unsent = [t for t in state.portfolio.trades.values() if t.status is TradeStatus.planned]
        if unsent:
            record([OrderCancelled(at, t.id, "planned before a restart and never sent") for t in unsent])

    def adopt_open_orders(self, state: State) -> None:
        """After a restart, carry on with the orders the state says are on the venue."""
        self._open_orders = {
            trade.id: trade
            for trade in state.portfolio.trades.values()
            if trade.status.value in ("submitted", "partially_filled")
        }

    def reconcile(self, state: State, record: Record, at: datetime) -> list[str]:
        """The simulator's books are the state's own: nothing can differ."""
        return []

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Any quantity goes (the state's asset decimals already bound it)."""
        return quantity

    # --- the venue contract ---------------------------------------------------------------------

    def on_cycle(self, state: State, candle: Candle, record: Record) -> None:
        if not self._open_orders:
            return
        for trade_id in sorted(self._open_orders):
            trade = self._open_orders[trade_id]
            if trade.is_finished:
                del self._open_orders[trade_id]
                continue
            # A cycle is stamped with its bar's open time but decides at the bar's close, so an
            # order placed with a one-bar timeout lives through exactly the next bar.
            if trade.expires_at is not None and candle.at > trade.expires_at:
                del self._open_orders[trade_id]
                record([OrderExpired(candle.at, trade.id, "limit order timed out")])
                continue
            price = self._fill_price(trade, candle)
            if price is None:
                continue
            maker = trade.order_type is OrderType.limit
            del self._open_orders[trade_id]
            self._fill(state, trade, price, candle, record, maker)

    def submit(self, state: State, trade: Trade, candle: Candle, record: Record) -> None:
        reference = trade.limit_price if trade.limit_price is not None else candle.close
        problem = self._cannot_cover(state, trade, reference)
        if problem:
            record([OrderRejected(candle.at, trade.id, problem)])
            return
        # Derived from the trade id, so a restarted venue never hands out an id twice.
        record([OrderSubmitted(candle.at, trade.id, f"sim-{trade.id}")])
        if trade.order_type is OrderType.market and self.config.fill_at == "close":
            self._fill(state, trade, self._slipped(trade.side, candle.close), candle, record, maker=False)
            return
        if trade.order_type is OrderType.limit and self._marketable(trade, candle.close):
            # A limit that crosses the last price fills at once at the better of the two, as a taker.
            assert trade.limit_price is not None
            better = min(trade.limit_price, candle.close) if trade.side is Side.buy else max(trade.limit_price, candle.close)
            self._fill(state, trade, better, candle, record, maker=False)
            return
        self._open_orders[trade.id] = trade

    def cancel(self, state: State, trade: Trade, candle: Candle, record: Record, reason: str) -> None:
        self._open_orders.pop(trade.id, None)
        record([OrderCancelled(candle.at, trade.id, reason)])

    # --- pricing and checks ---------------------------------------------------------------------

    def _slipped(self, side: Side, price: Decimal) -> Decimal:
        bps = self.config.slippage_bps
        if not bps:
            return price
        factor = 1 + bps / _TEN_THOUSAND if side is Side.buy else 1 - bps / _TEN_THOUSAND
        return (price * factor).quantize(_PRICE_STEP, rounding=ROUND_HALF_EVEN)

    @staticmethod
    def _marketable(trade: Trade, price: Decimal) -> bool:
        assert trade.limit_price is not None
        return price <= trade.limit_price if trade.side is Side.buy else price >= trade.limit_price

    def _fill_price(self, trade: Trade, candle: Candle) -> Decimal | None:
        if trade.order_type is OrderType.market:
            return self._slipped(trade.side, candle.open)
        limit = trade.limit_price
        assert limit is not None
        if trade.side is Side.buy:
            return min(limit, candle.open) if candle.low <= limit else None
        return max(limit, candle.open) if candle.high >= limit else None

    def _fee(self, notional: Decimal, maker: bool) -> Decimal:
        rate = self.config.maker_fee if maker else self.config.taker_fee
        return (notional * rate).quantize(_PRICE_STEP, rounding=ROUND_HALF_EVEN)

    def _cannot_cover(self, state: State, trade: Trade, price: Decimal) -> str | None:
        """Why the reserve or the position cannot pay for `trade` at `price` (None when it can)."""
        pair = state.pairs[trade.pair_id]
        position = state.portfolio.get_position(trade.position_id)
        assert position is not None
        remaining = trade.remaining_quantity
        increases = (position.direction is Direction.long) == (trade.side is Side.buy)
        cash = state.portfolio.reserve(pair.quote)
        if increases:
            notional = remaining * price
            cost = (notional if pair.kind is PairKind.spot else 0) + self._fee(notional, maker=False)
            if cost > cash:
                return f"insufficient {pair.quote} reserve: needs {cost}, has {cash}"
        elif remaining > position.quantity:
            return f"position {position.id} holds {position.quantity}, cannot {trade.side.value} {remaining}"
        return None

    def _fill(self, state: State, trade: Trade, price: Decimal, candle: Candle, record: Record, maker: bool) -> None:
        problem = self._cannot_cover(state, trade, price)
        if problem:
            record([OrderCancelled(candle.at, trade.id, f"cannot fill: {problem}")])
            return
        quantity = trade.remaining_quantity
        fee = self._fee(quantity * price, maker)
        pair = state.pairs[trade.pair_id]
        record([FillReceived(candle.at, trade.id, quantity, price, fee, pair.quote, f"sim-fill-{trade.id}")])
