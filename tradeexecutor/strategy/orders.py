"""Carrying out a cycle's intents: transitions recorded, cancels sent, orders sized, checked
against the risk limits, planned (`trade_planned`, in the log before anything is sent) and
submitted; what cannot be done is refused with a recorded reason (`intent_refused`)."""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from tradeexecutor.execution.venue import Record, Venue
from tradeexecutor.market.candles import Candle
from tradeexecutor.risk.limits import RiskLimits
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import IntentRefused, StrategyDecided, StrategyStateChanged, TradePlanned
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.position import Direction, Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import OrderType, Side, TradeStatus
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.api import CycleInput
from tradeexecutor.strategy.decision import StrategyError
from tradeexecutor.strategy.intents import CancelOrder, ClosePosition, Intent, OrderIntent, Transition


def client_order_id(state: State, trade_id: int) -> str:
    """Unique per state: `te` + the state's creation time in base32 + the trade id (≤ 36 chars)."""
    created = state.created_at
    stamp = int(created.timestamp() * 1000) if created else 0
    code = base64.b32encode(stamp.to_bytes(6, "big")).decode().rstrip("=").lower()
    return f"te{code}-{trade_id}"


class IntentExecutor:
    """Works on the real state (`cycle_input._state`), never on the strategy's read-only view."""

    def __init__(self, store: StateStore, venue: Venue, risk: RiskLimits) -> None:
        self.store = store
        self.venue = venue
        self.risk = risk

    def refuse_excess(self, at: datetime, excess: list[Intent], limit: int) -> None:
        """One event for all the intents over the cycle's limit (a runaway strategy may return
        thousands; one event each would make the log the bottleneck)."""
        first = excess[0].describe()
        more = f" and {len(excess) - 1} more" if len(excess) > 1 else ""
        self.store.record(
            [IntentRefused(at, f"{first}{more}", f"more than {limit} intents in one cycle (max_intents_per_cycle)")]
        )

    def execute(self, cycle_input: CycleInput, candle: Candle, intents: list[Intent], record: Record) -> None:
        state = cycle_input._state
        at = cycle_input.timestamp
        self.store.record([StrategyDecided(at, cycle_input.cycle, tuple(i.describe() for i in intents))])
        self._check_transitions(state, intents)
        for intent in intents:
            if isinstance(intent, Transition):
                try:
                    self.store.record([StrategyStateChanged(at, intent.machine, intent.from_state, intent.to_state)])
                except InvalidEvent as exc:
                    raise StrategyError(f"state machine transition refused: {exc.problem}") from None
            elif isinstance(intent, CancelOrder):
                trade = state.portfolio.trades.get(intent.trade_id)
                if trade is None or trade.is_finished or trade.status is TradeStatus.planned:
                    self._refuse(at, intent, f"trade {intent.trade_id} is not an open order")
                else:
                    self.venue.cancel(state, trade, candle, record, "cancelled by the strategy")
            else:
                self._order(cycle_input, candle, intent, record)

    @staticmethod
    def _check_transitions(state: State, intents: list[Intent]) -> None:
        """Refuse the whole cycle before anything is sent if one of its transitions is stale: a
        crash after sending an order would re-run the cycle and send that order again."""
        machines = dict(state.strategy_states)
        for intent in intents:
            if isinstance(intent, Transition):
                current = machines.get(intent.machine)
                if current != intent.from_state:
                    raise StrategyError(
                        f"state machine transition refused: machine {intent.machine!r} is in state {current!r}, "
                        f"not {intent.from_state!r}; no intent of this cycle was carried out"
                    )
                machines[intent.machine] = intent.to_state

    def _refuse(self, at: datetime, intent: Intent, reason: str) -> None:
        self.store.record([IntentRefused(at, intent.describe(), reason)])

    def _order(self, cycle_input: CycleInput, candle: Candle, intent: OrderIntent | ClosePosition, record: Record) -> None:
        state = cycle_input._state
        at = cycle_input.timestamp
        pair = cycle_input.pair
        portfolio = state.portfolio
        if isinstance(intent, ClosePosition):
            position = (
                portfolio.open_positions.get(intent.position_id)
                if intent.position_id is not None
                else cycle_input._position()
            )
            if position is None or not position.quantity:
                self._refuse(at, intent, "no open position with a quantity to close")
                return
            side = Side.sell if position.direction is Direction.long else Side.buy
            quantity = position.quantity - self._pending_reduction(position)
            if quantity <= 0:
                self._refuse(at, intent, f"position {position.id} is already being closed")
                return
            limit, timeout = intent.limit_price, intent.timeout
        else:
            position = cycle_input._position()
            side = intent.side
            limit, timeout = intent.limit_price, intent.timeout
            price = limit if limit is not None else cycle_input.last_price
            if intent.quantity is not None:
                quantity = intent.quantity
            else:
                assert intent.value is not None
                decimals = state.assets[pair.base].decimals
                quantity = (intent.value / price).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)
            if quantity <= 0:
                self._refuse(at, intent, "the order's value is too small for one unit of the base asset")
                return
        quantity = self.venue.round_quantity(quantity)
        if quantity <= 0:
            self._refuse(at, intent, "the quantity rounds to zero at the venue's amount step")
            return
        increases = position is None or ((position.direction is Direction.long) == (side is Side.buy))
        if position is None and side is Side.sell and pair.kind is PairKind.spot:
            self._refuse(at, intent, f"no {pair.base} position to sell on spot {pair.symbol}")
            return
        if position is not None and not increases and quantity > position.quantity:
            self._refuse(at, intent, f"position {position.id} holds {position.quantity}, cannot sell {quantity}")
            return
        price = limit if limit is not None else cycle_input.last_price
        pending_on_pair = self._pending_increase(state, pair.id, cycle_input.last_price)
        position_value = (position.value if position is not None else Decimal(0)) + pending_on_pair
        pending_everywhere = sum(
            (self._pending_increase(state, other, state.last_prices.get(other, cycle_input.last_price))
             for other in state.pairs if other != pair.id),
            pending_on_pair,
        )  # fmt: skip
        problem = self.risk.check(
            state, quantity * price, increases, position_value, limit, cycle_input.last_price, pending_everywhere
        )
        if problem:
            self._refuse(at, intent, problem)
            return
        trade_id = portfolio.next_trade_id
        position_id = position.id if position is not None else portfolio.next_position_id
        expires_at = at + timeout if timeout is not None else None
        self.store.record(
            [
                TradePlanned(
                    at,
                    trade_id,
                    position_id,
                    pair.id,
                    side,
                    OrderType.limit if limit is not None else OrderType.market,
                    quantity,
                    limit,
                    client_order_id(state, trade_id),
                    expires_at,
                )
            ]
        )
        self.venue.submit(state, portfolio.trades[trade_id], candle, record)

    @staticmethod
    def _pending_increase(state: State, pair_id: int, last_price: Decimal) -> Decimal:
        """Value of open orders on the pair that would add exposure (risk limits count them)."""
        total = Decimal(0)
        for position in state.portfolio.open_positions.values():
            if position.pair_id != pair_id:
                continue
            opening = Side.buy if position.direction is Direction.long else Side.sell
            for trade in position.trades.values():
                if trade.side is opening and not trade.is_finished:
                    total += trade.remaining_quantity * (trade.limit_price or last_price)
        return total

    @staticmethod
    def _pending_reduction(position: Position) -> Decimal:
        """Quantity already on its way out in open orders that reduce the position."""
        closing = Side.sell if position.direction is Direction.long else Side.buy
        return sum(
            (t.remaining_quantity for t in position.trades.values() if t.side is closing and not t.is_finished),
            Decimal(0),
        )
