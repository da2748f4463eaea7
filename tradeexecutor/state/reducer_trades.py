"""Reducer handlers for orders and positions: planning, submission, fills, endings, freezing, repair."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    Event,
    FillReceived,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderRejected,
    OrderSubmitted,
    PositionFrozen,
    PositionUnfrozen,
    RepairApplied,
    TradePlanned,
)
from tradeexecutor.state.handlers import (
    check_transition,
    find_asset,
    find_trade,
    handles,
    live_position,
    take_from_reserve,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.position import Direction, Position, PositionStatus
from tradeexecutor.state.refusals import Refusal
from tradeexecutor.state.state import VALUATION_CONTEXT, State
from tradeexecutor.state.trade import FINISHED, Fill, OrderType, Side, Trade, TradeStatus
from tradeexecutor.state.values import ZERO


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
    trade = find_trade(state, event, event.trade_id)
    check_transition(event, trade, TradeStatus.submitted)
    trade.status = TradeStatus.submitted
    trade.status_reason = None  # a reason from an earlier failure no longer describes the trade
    trade.updated_at = event.at
    if event.exchange_order_id is not None:
        trade.exchange_order_id = event.exchange_order_id


@handles(FillReceived)
def _fill_received(state: State, event: FillReceived) -> None:
    trade = find_trade(state, event, event.trade_id)
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
    position = live_position(state, event, trade.position_id)
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
        find_asset(state, event, event.fee_asset)
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
    other_left = take_from_reserve(state, event, event.fee_asset, other_fee) if other_fee else ZERO

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
    trade = find_trade(state, event, event.trade_id)
    check_transition(event, trade, target)
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
    # Repairs are where history might be rewritten: encoders drop what they kept of it.
    state.portfolio.history_revision += 1


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
