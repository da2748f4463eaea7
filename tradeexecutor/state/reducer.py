"""The reducer: `apply(state, event)` is the only code that changes a `State`.

Each handler first checks every invariant it needs and only then mutates, so an `InvalidEvent`
always leaves the state exactly as it was. Decimal arithmetic is exact for sums and products of
the values we store; the one division (average entry price) uses a fixed context so a replay on
any machine rounds the same way.
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradeexecutor.state.balance import BalanceUpdate, BalanceUpdateKind
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    AssetRegistered,
    BalanceCorrected,
    CycleCompleted,
    DepositMade,
    Event,
    ExchangeDifference,
    ExecutorStarted,
    FeeCharged,
    FillReceived,
    FundingPaid,
    IntentRefused,
    MarketObserved,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderRejected,
    OrderSubmitted,
    PairRegistered,
    PairRulesRecorded,
    PositionFrozen,
    PositionUnfrozen,
    RepairApplied,
    RunConfigured,
    StateCreated,
    StrategyDecided,
    StrategyFailed,
    StrategyStateChanged,
    TradePlanned,
    ValuationRecorded,
    VenueOutageEnded,
    VenueOutageStarted,
    WithdrawalMade,
)
from tradeexecutor.state.identifiers import Asset, PairKind, TradingPair
from tradeexecutor.state.position import Direction, Position, PositionStatus
from tradeexecutor.state.refusals import Refusal
from tradeexecutor.state.run_configuration import RunConfiguration
from tradeexecutor.state.state import VALUATION_CONTEXT, State
from tradeexecutor.state.trade import FINISHED, TRANSITIONS, Fill, OrderType, Side, Trade, TradeStatus
from tradeexecutor.state.uptime import Run
from tradeexecutor.state.valuation import ValuationPoint
from tradeexecutor.state.values import ZERO


def _normalise_decimal_context() -> None:
    """Make this thread's decimal context the one the reducer's arithmetic assumes.

    Libraries change the thread's context behind our back (ccxt sets ROUND_HALF_UP on every
    call), and a product that needs rounding would then differ between the live process and a
    replay. Checking two attributes is far cheaper than entering a local context per event.
    """
    context = decimal.getcontext()
    if context.prec != VALUATION_CONTEXT.prec or context.rounding != VALUATION_CONTEXT.rounding:
        context.prec = VALUATION_CONTEXT.prec
        context.rounding = VALUATION_CONTEXT.rounding


Handler = Callable[[State, Any], None]
_HANDLERS: dict[type[Event], Handler] = {}


def handles(event_type: type[Event]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _HANDLERS[event_type] = handler
        return handler

    return register


def apply(state: State, event: Event, seq: int | None = None) -> State:
    """Apply one event; `seq`, when given, must be the next sequence number. Returns `state`."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise InvalidEvent(event, f"no reducer handles {type(event).__name__}")
    expected = state.last_event_seq + 1
    if seq is not None and seq != expected:
        raise InvalidEvent(event, f"sequence number {seq} does not follow {state.last_event_seq}")
    if state.created_at is None and type(event) is not StateCreated:
        raise InvalidEvent(event, "the state does not exist yet: the first event must be state_created")
    _normalise_decimal_context()
    handler(state, event)
    state.last_event_seq = expected
    return state


# --- helpers -------------------------------------------------------------------------------


def _asset(state: State, event: Event, asset_id: str) -> Asset:
    asset = state.assets.get(asset_id)
    if asset is None:
        raise InvalidEvent(event, f"unknown asset {asset_id!r}; register it with asset_registered first")
    return asset


def _trade(state: State, event: Event, trade_id: int) -> Trade:
    trade = state.portfolio.trades.get(trade_id)
    if trade is None:
        raise InvalidEvent(event, f"unknown trade id {trade_id}")
    return trade


def _live_position(state: State, event: Event, position_id: int) -> Position:
    portfolio = state.portfolio
    position = portfolio.open_positions.get(position_id) or portfolio.frozen_positions.get(position_id)
    if position is None:
        where = "closed" if position_id in portfolio.closed_positions else "unknown"
        raise InvalidEvent(event, f"position {position_id} is {where}")
    return position


def _check_transition(event: Event, trade: Trade, target: TradeStatus) -> None:
    if target not in TRANSITIONS[trade.status]:
        raise InvalidEvent(event, f"trade {trade.id} cannot go from {trade.status.value} to {target.value}")


def _add_balance_update(
    state: State,
    event: Event,
    kind: BalanceUpdateKind,
    asset: str,
    amount: Decimal,
    position_id: int | None,
    note: str,
) -> None:
    updates = state.portfolio.balance_updates
    updates.append(BalanceUpdate(len(updates) + 1, kind, asset, amount, event.at, position_id, note))


def _dust_price(state: State, position: Position) -> Decimal | None:
    """The price of the last fill that reduced a spot position, or None when none did: only a
    sell can leave dust (a buy that fills less than a lot is a position still being built)."""
    if position.kind is not PairKind.spot:
        return None
    closing = Side.sell if position.direction is Direction.long else Side.buy
    price = None
    for trade_id in sorted(position.trades):
        trade = position.trades[trade_id]
        if trade.side is closing and trade.fills:
            price = trade.fills[-1].price
    return price


def _settle(state: State, position: Position, event: Event) -> None:
    """Close an open position whose trades have all finished and whose quantity is zero, or is
    dust: less than the venue takes in one order, left by a sell (see `Position.dust`)."""
    if position.status is not PositionStatus.open:
        return
    if any(trade.status not in FINISHED for trade in position.trades.values()):
        return
    portfolio = state.portfolio
    if position.quantity:
        price = _dust_price(state, position)
        pair = state.pairs[position.pair_id]
        if price is None or not pair.is_dust(position.quantity, price, state.assets[pair.base].decimals):
            return
        portfolio.reserves[pair.base] = portfolio.reserve(pair.base) + position.quantity
        position.dust += position.quantity
        position.quantity = ZERO
    del portfolio.open_positions[position.id]
    position.status = PositionStatus.closed
    position.closed_at = event.at
    position.mark_price = None
    portfolio.closed_positions[position.id] = position


# --- set-up and money in/out ----------------------------------------------------------------


@handles(StateCreated)
def _state_created(state: State, event: StateCreated) -> None:
    if state.created_at is not None:
        raise InvalidEvent(event, "the state was created already")
    if not event.executor_id:
        raise InvalidEvent(event, "executor_id is empty")
    if not event.reserve_currency:
        raise InvalidEvent(event, "reserve_currency is empty")
    state.created_at = event.at
    state.executor_id = event.executor_id
    state.reserve_currency = event.reserve_currency


@handles(ExecutorStarted)
def _executor_started(state: State, event: ExecutorStarted) -> None:
    state.uptime.runs.append(Run(started_at=event.at, version=event.version, mode=event.mode))


@handles(AssetRegistered)
def _asset_registered(state: State, event: AssetRegistered) -> None:
    if not event.asset_id:
        raise InvalidEvent(event, "asset_id is empty")
    if event.asset_id in state.assets:
        raise InvalidEvent(event, f"asset {event.asset_id!r} is registered already")
    if not (0 <= event.decimals <= 36):
        raise InvalidEvent(event, f"decimals {event.decimals} is outside 0..36")
    state.assets[event.asset_id] = Asset(event.asset_id, event.decimals)


@handles(PairRegistered)
def _pair_registered(state: State, event: PairRegistered) -> None:
    if event.pair_id <= 0:
        raise InvalidEvent(event, f"pair id {event.pair_id} must be positive")
    if event.pair_id in state.pairs:
        raise InvalidEvent(event, f"pair id {event.pair_id} is registered already")
    _asset(state, event, event.base)
    _asset(state, event, event.quote)
    if event.quote != state.reserve_currency:
        raise InvalidEvent(
            event,
            f"pair {event.symbol} is quoted in {event.quote}, not the reserve currency {state.reserve_currency}; "
            "equity is counted in the reserve currency, so only pairs quoted in it can be traded",
        )
    if event.base == event.quote:
        raise InvalidEvent(event, "base and quote are the same asset")
    state.pairs[event.pair_id] = TradingPair(
        event.pair_id, event.symbol, event.base, event.quote, event.venue, event.kind
    )


@handles(PairRulesRecorded)
def _pair_rules_recorded(state: State, event: PairRulesRecorded) -> None:
    pair = state.pairs.get(event.pair_id)
    if pair is None:
        raise InvalidEvent(event, f"rules for unknown pair id {event.pair_id}")
    for name in ("lot_size", "min_quantity", "min_notional"):
        value = getattr(event, name)
        if value is not None and value <= 0:
            raise InvalidEvent(event, f"{name} {value} must be positive")
    state.pairs[pair.id] = dataclasses.replace(
        pair, lot_size=event.lot_size, min_quantity=event.min_quantity, min_notional=event.min_notional
    )


@handles(DepositMade)
def _deposit_made(state: State, event: DepositMade) -> None:
    _asset(state, event, event.asset)
    if event.amount <= 0:
        raise InvalidEvent(event, f"deposit amount {event.amount} must be positive")
    reserves = state.portfolio.reserves
    reserves[event.asset] = reserves.get(event.asset, ZERO) + event.amount
    _add_balance_update(state, event, BalanceUpdateKind.deposit, event.asset, event.amount, None, event.note)


def _take_from_reserve(state: State, event: Event, asset: str, amount: Decimal) -> Decimal:
    """Return the reserve after taking `amount`, refusing the event if it would go negative."""
    _asset(state, event, asset)
    left = state.portfolio.reserve(asset) - amount
    if left < 0:
        raise InvalidEvent(
            event, f"reserve {asset} would go negative: {state.portfolio.reserve(asset)} - {amount}"
        )
    return left


@handles(WithdrawalMade)
def _withdrawal_made(state: State, event: WithdrawalMade) -> None:
    if event.amount <= 0:
        raise InvalidEvent(event, f"withdrawal amount {event.amount} must be positive")
    state.portfolio.reserves[event.asset] = _take_from_reserve(state, event, event.asset, event.amount)
    _add_balance_update(
        state, event, BalanceUpdateKind.withdrawal, event.asset, -event.amount, None, event.note
    )


@handles(FeeCharged)
def _fee_charged(state: State, event: FeeCharged) -> None:
    if event.amount <= 0:
        raise InvalidEvent(event, f"fee amount {event.amount} must be positive")
    position = None if event.position_id is None else _live_position(state, event, event.position_id)
    left = _take_from_reserve(state, event, event.asset, event.amount)
    state.portfolio.reserves[event.asset] = left
    if position is not None and state.pairs[position.pair_id].quote == event.asset:
        position.fees_paid += event.amount
    _add_balance_update(
        state, event, BalanceUpdateKind.fee, event.asset, -event.amount, event.position_id, event.note
    )


@handles(FundingPaid)
def _funding_paid(state: State, event: FundingPaid) -> None:
    if event.amount == 0:
        raise InvalidEvent(event, "a funding payment of zero changes nothing")
    position = _live_position(state, event, event.position_id)
    pair = state.pairs[position.pair_id]
    if pair.kind is not PairKind.perpetual:
        raise InvalidEvent(event, f"position {position.id} is {pair.kind.value}, not perpetual")
    left = _take_from_reserve(state, event, pair.quote, event.amount)
    state.portfolio.reserves[pair.quote] = left
    position.funding_paid += event.amount
    _add_balance_update(
        state, event, BalanceUpdateKind.funding, pair.quote, -event.amount, position.id, event.note
    )


@handles(BalanceCorrected)
def _balance_corrected(state: State, event: BalanceCorrected) -> None:
    if event.amount == 0:
        raise InvalidEvent(event, "a correction of zero changes nothing")
    left = _take_from_reserve(state, event, event.asset, -event.amount)
    state.portfolio.reserves[event.asset] = left
    _add_balance_update(
        state, event, BalanceUpdateKind.correction, event.asset, event.amount, None, event.reason
    )


# --- trades ---------------------------------------------------------------------------------


@handles(TradePlanned)
def _trade_planned(state: State, event: TradePlanned) -> None:
    portfolio = state.portfolio
    if event.trade_id != portfolio.next_trade_id:
        raise InvalidEvent(
            event, f"trade id {event.trade_id} is not the next trade id {portfolio.next_trade_id}"
        )
    pair = state.pairs.get(event.pair_id)
    if pair is None:
        raise InvalidEvent(event, f"unknown pair id {event.pair_id}")
    assert pair is not None
    if event.quantity <= 0:
        raise InvalidEvent(event, f"quantity {event.quantity} must be positive")
    if not event.client_order_id:
        raise InvalidEvent(event, "client_order_id is empty")
    if event.order_type is OrderType.limit:
        if not (event.limit_price is not None and event.limit_price > 0):
            raise InvalidEvent(event, "a limit order needs a positive limit_price")
    else:
        if event.limit_price is not None:
            raise InvalidEvent(event, "a market order has no limit_price")
    side = event.side
    new_position = event.position_id == portfolio.next_position_id
    if new_position:
        direction = Direction.long if side is Side.buy else Direction.short
        if not (direction is Direction.long or pair.kind is PairKind.perpetual):
            raise InvalidEvent(event, f"{pair.symbol} is spot: a position cannot be opened by selling")
        position = Position(event.position_id, pair.id, pair.kind, direction, opened_at=event.at)
    else:
        found = portfolio.open_positions.get(event.position_id)
        if found is None:
            if event.position_id in portfolio.frozen_positions:
                problem = f"position {event.position_id} is frozen; unfreeze it before trading"
            elif event.position_id in portfolio.closed_positions:
                problem = f"position {event.position_id} is closed"
            else:
                problem = f"unknown position id {event.position_id} (the next new one is {portfolio.next_position_id})"
            raise InvalidEvent(event, problem)
        if found.pair_id != pair.id:
            raise InvalidEvent(event, f"position {found.id} trades pair {found.pair_id}, not {pair.id}")
        position = found
    trade = Trade(
        id=event.trade_id,
        position_id=position.id,
        pair_id=pair.id,
        side=side,
        order_type=event.order_type,
        quantity=event.quantity,
        limit_price=event.limit_price,
        client_order_id=event.client_order_id,
        planned_at=event.at,
        updated_at=event.at,
        expires_at=event.expires_at,
    )
    if new_position:
        portfolio.open_positions[position.id] = position
        portfolio.next_position_id += 1
    position.trades[trade.id] = trade
    portfolio.trades[trade.id] = trade
    portfolio.next_trade_id += 1


@handles(OrderSubmitted)
def _order_submitted(state: State, event: OrderSubmitted) -> None:
    trade = _trade(state, event, event.trade_id)
    _check_transition(event, trade, TradeStatus.submitted)
    trade.status = TradeStatus.submitted
    trade.status_reason = None  # a reason from an earlier failure no longer describes the trade
    trade.updated_at = event.at
    if event.exchange_order_id is not None:
        trade.exchange_order_id = event.exchange_order_id


@handles(FillReceived)
def _fill_received(state: State, event: FillReceived) -> None:
    trade = _trade(state, event, event.trade_id)
    if trade.status not in (TradeStatus.submitted, TradeStatus.partially_filled, TradeStatus.failed):
        raise InvalidEvent(
            event,
            f"trade {trade.id} is {trade.status.value}; fills are taken only after submission and before it finishes",
        )
    quantity, price, fee = event.quantity, event.price, event.fee
    if quantity <= 0:
        raise InvalidEvent(event, f"fill quantity {quantity} must be positive")
    if price <= 0:
        raise InvalidEvent(event, f"fill price {price} must be positive")
    if fee < 0:
        raise InvalidEvent(event, f"fee {fee} must not be negative")
    remaining = trade.remaining_quantity
    if quantity > remaining:
        raise InvalidEvent(event, f"fill of {quantity} exceeds the {remaining} left of trade {trade.id}")
    position = _live_position(state, event, trade.position_id)
    pair = state.pairs[trade.pair_id]
    reserves = state.portfolio.reserves

    quote_fee = base_fee = other_fee = ZERO
    if event.fee_asset == pair.quote:
        quote_fee = fee
    elif event.fee_asset == pair.base:
        if pair.kind is not PairKind.spot:
            raise InvalidEvent(event, "a perpetual's fee cannot be paid in its base asset")
        base_fee = fee
    else:
        _asset(state, event, event.fee_asset)
        other_fee = fee

    increases = (position.direction is Direction.long) == (trade.side is Side.buy)
    notional = quantity * price
    old_quantity = position.quantity
    if increases:
        new_quantity = old_quantity + quantity - base_fee
        total = old_quantity + quantity
        average = VALUATION_CONTEXT.divide(old_quantity * position.average_price + notional, total)
        realised = ZERO
        cash_delta = -notional if pair.kind is PairKind.spot else ZERO
    else:
        if not (quantity + base_fee <= old_quantity):
            raise InvalidEvent(
                event,
                f"fill of {quantity} (+ fee {base_fee}) exceeds position {position.id}'s quantity {old_quantity}",
            )
        new_quantity = old_quantity - quantity - base_fee
        average = position.average_price
        realised = (price - average) * quantity * position.sign
        cash_delta = notional if pair.kind is PairKind.spot else realised
    if new_quantity < 0:
        raise InvalidEvent(event, f"position {position.id} quantity would go negative")
    cash_delta -= quote_fee
    new_cash = reserves.get(pair.quote, ZERO) + cash_delta
    if new_cash < 0:
        raise InvalidEvent(event, f"reserve {pair.quote} would go negative: {new_cash}")
    other_left = _take_from_reserve(state, event, event.fee_asset, other_fee) if other_fee else ZERO

    # Everything is checked; mutate.
    reserves[pair.quote] = new_cash
    if other_fee:
        reserves[event.fee_asset] = other_left
    position.quantity = new_quantity
    position.average_price = average
    position.realised_pnl += realised
    position.fees_paid += quote_fee + base_fee * price
    trade.fills.append(Fill(quantity, price, event.fee, event.fee_asset, event.at, event.exchange_trade_id))
    trade.status = TradeStatus.filled if quantity == remaining else TradeStatus.partially_filled
    trade.status_reason = None
    trade.updated_at = event.at
    _settle(state, position, event)


def _finish(state: State, event: Any, target: TradeStatus, reason: str) -> None:
    trade = _trade(state, event, event.trade_id)
    _check_transition(event, trade, target)
    trade.status = target
    trade.status_reason = reason or None
    trade.updated_at = event.at
    position = state.portfolio.get_position(trade.position_id)
    assert position is not None
    _settle(state, position, event)


@handles(OrderCancelled)
def _order_cancelled(state: State, event: OrderCancelled) -> None:
    _finish(state, event, TradeStatus.cancelled, event.reason)


@handles(OrderRejected)
def _order_rejected(state: State, event: OrderRejected) -> None:
    _finish(state, event, TradeStatus.rejected, event.reason)
    trade = state.portfolio.trades[event.trade_id]
    subject = f"trade {trade.id}: {trade.order_type.value} {trade.side.value} {trade.quantity}"
    state.refusals.add(Refusal(event.at, "order", subject, event.reason))


@handles(OrderExpired)
def _order_expired(state: State, event: OrderExpired) -> None:
    _finish(state, event, TradeStatus.expired, event.reason)


@handles(OrderFailed)
def _order_failed(state: State, event: OrderFailed) -> None:
    _finish(state, event, TradeStatus.failed, event.reason)


@handles(RepairApplied)
def _repair_applied(state: State, event: RepairApplied) -> None:
    if not event.note:
        raise InvalidEvent(event, "a repair needs a note saying why")
    _finish(state, event, TradeStatus.repaired, event.note)


# --- positions, valuation, cycles ---------------------------------------------------------------


@handles(PositionFrozen)
def _position_frozen(state: State, event: PositionFrozen) -> None:
    portfolio = state.portfolio
    position = portfolio.open_positions.get(event.position_id)
    if position is None:
        raise InvalidEvent(event, f"position {event.position_id} is not open")
    assert position is not None
    if not event.reason:
        raise InvalidEvent(event, "freezing a position needs a reason")
    del portfolio.open_positions[position.id]
    position.status = PositionStatus.frozen
    position.frozen_reason = event.reason
    portfolio.frozen_positions[position.id] = position


@handles(PositionUnfrozen)
def _position_unfrozen(state: State, event: PositionUnfrozen) -> None:
    portfolio = state.portfolio
    position = portfolio.frozen_positions.get(event.position_id)
    if position is None:
        raise InvalidEvent(event, f"position {event.position_id} is not frozen")
    assert position is not None
    del portfolio.frozen_positions[position.id]
    position.status = PositionStatus.open
    position.frozen_reason = None
    portfolio.open_positions[position.id] = position
    _settle(state, position, event)


@handles(ValuationRecorded)
def _valuation_recorded(state: State, event: ValuationRecorded) -> None:
    for pair_id, price in event.prices.items():
        if pair_id not in state.pairs:
            raise InvalidEvent(event, f"price for unknown pair id {pair_id}")
        if price <= 0:
            raise InvalidEvent(event, f"price {price} for pair {pair_id} must be positive")
    _record_valuation(state, event, event.prices)


def _record_valuation(state: State, event: Event, prices: dict[int, Decimal]) -> None:
    """Mark live positions at `prices` (where given) and append a point to the equity curve."""
    portfolio = state.portfolio
    positions_value = ZERO
    for positions in (portfolio.open_positions, portfolio.frozen_positions):
        for position in positions.values():
            price = prices.get(position.pair_id)
            if price is not None:
                position.mark_price = price
            positions_value += position.value
    cash = state.cash()
    state.valuations.append(ValuationPoint(event.at, state.cycle, cash + positions_value, cash, positions_value))


@handles(CycleCompleted)
def _cycle_completed(state: State, event: CycleCompleted) -> None:
    if event.cycle != state.cycle + 1:
        raise InvalidEvent(event, f"cycle {event.cycle} does not follow {state.cycle}")
    if not state.uptime.runs:
        raise InvalidEvent(event, "no executor_started event before the first cycle")
    run = state.uptime.runs[-1]
    state.cycle = event.cycle
    run.last_cycle_at = event.at
    run.cycles += 1
    _record_valuation(state, event, state.last_prices)


@handles(MarketObserved)
def _market_observed(state: State, event: MarketObserved) -> None:
    if event.pair_id not in state.pairs:
        raise InvalidEvent(event, f"observation of unknown pair id {event.pair_id}")
    low, high = event.low, event.high
    if not (0 < low <= event.open <= high and low <= event.close <= high):
        raise InvalidEvent(event, f"inconsistent candle: open {event.open} high {high} low {low} close {event.close}")
    if event.volume < 0:
        raise InvalidEvent(event, f"negative volume {event.volume}")
    state.last_prices[event.pair_id] = event.close
    if event.pair_id not in state.first_prices:
        state.first_prices[event.pair_id] = event.open


@handles(StrategyDecided)
def _strategy_decided(state: State, event: StrategyDecided) -> None:
    if event.cycle != state.cycle + 1:
        raise InvalidEvent(event, f"decision for cycle {event.cycle} during cycle {state.cycle + 1}")


@handles(StrategyFailed)
def _strategy_failed(state: State, event: StrategyFailed) -> None:
    """Recorded for the operator; the run stops, the money is untouched."""


@handles(ExchangeDifference)
def _exchange_difference(state: State, event: ExchangeDifference) -> None:
    """Recorded for the operator; what to do about it is decided by other events (freeze, repair)."""


@handles(IntentRefused)
def _intent_refused(state: State, event: IntentRefused) -> None:
    """Refusing an intent changes no balance; the state keeps a bounded summary of refusals."""
    state.refusals.add(Refusal(event.at, "intent", event.intent, event.reason))


@handles(VenueOutageStarted)
def _venue_outage_started(state: State, event: VenueOutageStarted) -> None:
    """Recorded for the operator; the venue places no new orders until the outage ends."""
    _check_outage(event, event.venue, event.since)


@handles(VenueOutageEnded)
def _venue_outage_ended(state: State, event: VenueOutageEnded) -> None:
    """Recorded for the operator; trading on the venue resumes."""
    _check_outage(event, event.venue, event.since)


def _check_outage(event: Event, venue: str, since: datetime) -> None:
    if not venue:
        raise InvalidEvent(event, "venue is empty")
    if since > event.at:
        raise InvalidEvent(event, f"outage since {since} is after the event time {event.at}")


@handles(StrategyStateChanged)
def _strategy_state_changed(state: State, event: StrategyStateChanged) -> None:
    current = state.strategy_states.get(event.machine)
    if current != event.from_state:
        raise InvalidEvent(
            event, f"machine {event.machine!r} is in state {current!r}, not {event.from_state!r}"
        )
    if not event.to_state:
        raise InvalidEvent(event, "to_state is empty")
    state.strategy_states[event.machine] = event.to_state


@handles(RunConfigured)
def _run_configured(state: State, event: RunConfigured) -> None:
    for name in ("strategy", "mode", "pair", "fill_at", "data"):
        if not getattr(event, name):
            raise InvalidEvent(event, f"{name} is empty")
    for name in ("strategy_sha256", "data_sha256"):
        digest = getattr(event, name)
        if digest is not None and (len(digest) != 64 or digest.strip("0123456789abcdef")):
            raise InvalidEvent(event, f"{name} {digest!r} is not a sha256 hex digest")
    if not (0 <= event.fee < 1):
        raise InvalidEvent(event, f"fee {event.fee} is outside 0..1")
    if event.slippage_bps < 0:
        raise InvalidEvent(event, f"slippage_bps {event.slippage_bps} is negative")
    if event.initial_cash <= 0:
        raise InvalidEvent(event, f"initial_cash {event.initial_cash} must be positive")
    first, last = event.data_first_at, event.data_last_at
    if first is not None and last is not None and last < first:
        raise InvalidEvent(event, f"data_last_at {last} is before data_first_at {first}")
    if any(not change for change in event.accepted_changes):
        raise InvalidEvent(event, "an accepted change is empty")
    if state.run_configuration is not None and not event.accepted_changes:
        raise InvalidEvent(event, "the configuration was recorded already: a new one must list its accepted changes")
    state.run_configuration = RunConfiguration(
        event.strategy, event.strategy_sha256, event.mode, event.pair, event.fee, event.slippage_bps,
        event.fill_at, event.initial_cash, event.data, event.data_sha256, first, last, event.exchange_url,
        dict(event.parameters),
    )  # fmt: skip


def fold(events: Any, state: State | None = None) -> State:
    """`state = fold(apply, events, State())`: rebuild a state from an iterable of events."""
    state = State() if state is None else state
    for event in events:
        apply(state, event)
    return state
