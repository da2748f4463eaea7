"""Repair of the state, with the log healthy: compensating events for what a crash left open.

A crash between sending an order and hearing back leaves trades `planned`, `submitted`,
`partially_filled` or `failed`, and positions frozen until someone looks. Nothing here edits the
state: every change is an event (`repair_applied`, the exchange's own fills and cancels,
`position_unfrozen`) recorded through `StateStore.record`, so the log still explains every cent.

With an `ExchangeResolver` the exchange's view settles each trade; without one (offline) the
trade is closed as `repaired` with a note that says so. The plan is computed first, against a
copy of the state, so the operator sees every step and its effect before anything is recorded.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, TypeVar

from tradeexecutor.clock import wall_clock
from tradeexecutor.repair.log import RepairError
from tradeexecutor.state.clock import Clock, require_utc
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    Event,
    FillReceived,
    OrderSubmitted,
    PositionUnfrozen,
    RepairApplied,
)
from tradeexecutor.state.position import Position, PositionStatus
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side, Trade, TradeStatus
from tradeexecutor.store.errors import StoreError
from tradeexecutor.store.snapshot import dump_state, parse_state
from tradeexecutor.store.state_store import StateStore

T = TypeVar("T")

#: Statuses in which a trade's fate is not settled; after a crash nobody is watching them.
STUCK = frozenset({TradeStatus.planned, TradeStatus.submitted, TradeStatus.partially_filled, TradeStatus.failed})

UNFREEZE_NOTE = "reconciled by repair"


@dataclass(frozen=True, slots=True)
class OrphanOrder:
    """An order open on the exchange that no trade of ours knows, e.g. sent just before a crash
    that lost the record of it. It can fill at any moment without the state hearing of it."""

    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal | None


class ExchangeResolver(Protocol):
    """The exchange's view of what the state does not know; given by the live venue."""

    def resolve(self, state: State, trade: Trade) -> list[Event] | None:
        """The events that settle `trade` as the exchange saw it (fills, cancel, ...), or None
        when the exchange does not know the order."""
        ...

    def open_orders(self, state: State) -> list[OrphanOrder]:
        """Orders open on the exchange that no trade in `state` knows."""
        ...

    def cancel_orphan(self, order: OrphanOrder) -> None:
        """Cancel an orphan order on the exchange (raises if the exchange refuses)."""
        ...


class StepKind(StrEnum):
    trade = "trade"
    unfreeze = "unfreeze"
    orphan = "orphan"


@dataclass(frozen=True, slots=True)
class RepairStep:
    """One change the operator approves or declines: its events, or an orphan to cancel."""

    kind: StepKind
    description: str
    events: tuple[Event, ...] = ()
    trade_id: int | None = None
    position_id: int | None = None
    orphan: OrphanOrder | None = None


@dataclass(slots=True)
class StateRepairPlan:
    steps: list[RepairStep] = field(default_factory=list)
    #: What was looked at and is left as it is (said, so the operator knows it was not forgotten).
    notes: list[str] = field(default_factory=list)


class Outcome(StrEnum):
    applied = "applied"
    declined = "declined"
    skipped = "skipped"


@dataclass(frozen=True, slots=True)
class StepOutcome:
    step: RepairStep
    outcome: Outcome
    message: str
    #: True when the thing the step would have fixed is still broken.
    unresolved: bool = False


@dataclass(slots=True)
class StateRepairOutcome:
    outcomes: list[StepOutcome] = field(default_factory=list)

    @property
    def unresolved(self) -> bool:
        return any(o.unresolved for o in self.outcomes)

    @property
    def recorded(self) -> int:
        return sum(len(o.step.events) for o in self.outcomes if o.outcome is Outcome.applied)


# --- planning ---------------------------------------------------------------------------------------


def plan_state_repair(
    state: State, resolver: ExchangeResolver | None = None, clock: Clock = wall_clock
) -> StateRepairPlan:
    """Every step that would bring `state` to settled trades, unfrozen positions and no orphans.

    The steps are tried, in order, on a copy of the state, so each description says what its
    events do (and an event the reducer refuses is found now, not half-way through applying).
    """
    at = require_utc(clock())
    sim = parse_state(dump_state(state), "state copy")
    plan = StateRepairPlan()
    if resolver is None:
        plan.notes.append(
            "no exchange resolver (offline): stuck trades are closed without exchange confirmation, "
            "and orders open on the exchange are not checked"
        )
    for trade in sorted(_stuck_trades(state), key=lambda t: t.id):
        step = _plan_trade(state, sim, trade, resolver, at)
        if step is None:
            after = sim.portfolio.trades[trade.id]
            plan.notes.append(
                f"{_trade_text(state, trade)}: the exchange still has the order open "
                f"(now {after.status.value}); left to the executor"
            )
        else:
            plan.steps.append(step)
    for position in sorted(sim.portfolio.frozen_positions.values(), key=lambda p: p.id):
        unfinished = [t for t in position.trades.values() if not t.is_finished]
        if unfinished:
            plan.notes.append(
                f"position {position.id} stays frozen: "
                + ", ".join(f"trade {t.id} is {t.status.value}" for t in unfinished)
            )
            continue
        event = PositionUnfrozen(at, position.id, UNFREEZE_NOTE)
        reason = position.frozen_reason
        _apply_planned(sim, [event], f"unfreezing position {position.id}")
        effect = "it closes (quantity 0)" if position.status is PositionStatus.closed else "it is open again"
        plan.steps.append(
            RepairStep(
                StepKind.unfreeze,
                f"position {position.id} ({_pair(state, position)}) is frozen ({reason}); its trades are "
                f"all finished: record position_unfrozen \"{UNFREEZE_NOTE}\"; {effect}",
                (event,),
                position_id=position.id,
            )
        )
    if resolver is not None:
        for order in _call(lambda: resolver.open_orders(state), "listing the exchange's open orders"):
            plan.steps.append(
                RepairStep(
                    StepKind.orphan,
                    f"orphan order on the exchange, unknown to the state: {orphan_text(order)}; "
                    "cancel it on the exchange (adopting it into the state is not implemented: it needs "
                    "the live venue, so declining only reports it)",
                    orphan=order,
                )
            )
    return plan


def _stuck_trades(state: State) -> list[Trade]:
    return [t for t in state.portfolio.trades.values() if t.status in STUCK]


def _plan_trade(
    state: State, sim: State, trade: Trade, resolver: ExchangeResolver | None, at: datetime
) -> RepairStep | None:
    """The step settling one stuck trade, applied to `sim`; None if the exchange keeps it open."""
    was = trade.status.value + (f" ({trade.status_reason})" if trade.status_reason else "")
    found = None
    if resolver is not None:
        found = _call(lambda: resolver.resolve(state, trade), f"resolving trade {trade.id}")
    if found is None:
        why = "the exchange does not know the order" if resolver is not None else "offline repair"
        note = f"closed by repair without exchange confirmation ({why}); was {was}"
        events: list[Event] = [RepairApplied(at, trade.id, note)]
        action = f"record repair_applied \"{note}\""
    else:
        events = list(found)
        action = "the exchange reports " + ("; ".join(describe_event(e) for e in events) or "nothing")
    _apply_planned(sim, events, f"the events settling trade {trade.id}")
    after = sim.portfolio.trades[trade.id]
    if not events:  # the exchange knows the order and has nothing new: it is still open there
        return None
    position = sim.portfolio.get_position(trade.position_id)
    assert position is not None
    effect = f"trade {trade.id} becomes {after.status.value}"
    if position.status is PositionStatus.closed:
        effect += f"; position {position.id} closes (quantity 0)"
    elif not after.is_finished:
        effect += " (the order is still open on the exchange)"
    return RepairStep(
        StepKind.trade,
        f"{_trade_text(state, trade)} is {was}: {action}; {effect}",
        tuple(events),
        trade_id=trade.id,
        position_id=trade.position_id,
    )


def _apply_planned(sim: State, events: list[Event], what: str) -> None:
    for event in events:
        try:
            apply(sim, event, sim.last_event_seq + 1)
        except InvalidEvent as exc:
            raise RepairError(f"{what} do not apply to the state: {exc}") from None


def _call(action: Callable[[], T], what: str) -> T:
    """Run a resolver call; its failure (network, exchange) ends repair in one line, not a traceback."""
    try:
        return action()
    except RepairError:
        raise
    except Exception as exc:
        raise RepairError(f"the exchange resolver failed {what}: {type(exc).__name__}: {exc}") from None


# --- applying ---------------------------------------------------------------------------------------


def apply_state_repair(
    store: StateStore,
    plan: StateRepairPlan,
    confirm: Callable[[RepairStep], bool],
    resolver: ExchangeResolver | None = None,
    report: Callable[[StepOutcome], None] | None = None,
) -> StateRepairOutcome:
    """Ask `confirm` for each step in order and record the approved ones through the store.

    A position is unfrozen only if, when its turn comes, its trades really are finished: a trade
    repair the operator declined keeps the position frozen.
    """
    result = StateRepairOutcome()
    for step in plan.steps:
        outcome = _apply_step(store, step, confirm, resolver)
        result.outcomes.append(outcome)
        if report is not None:
            report(outcome)
    return result


def _apply_step(
    store: StateStore, step: RepairStep, confirm: Callable[[RepairStep], bool], resolver: ExchangeResolver | None
) -> StepOutcome:
    portfolio = store.state.portfolio
    if step.kind is StepKind.unfreeze:
        position = portfolio.frozen_positions.get(step.position_id or 0)
        if position is None:
            return StepOutcome(step, Outcome.skipped, f"position {step.position_id} is no longer frozen")
        unfinished = [t for t in position.trades.values() if not t.is_finished]
        if unfinished:
            left = ", ".join(f"trade {t.id} is {t.status.value}" for t in unfinished)
            return StepOutcome(step, Outcome.skipped, f"position {position.id} stays frozen: {left}", True)
    if not confirm(step):
        if step.kind is StepKind.orphan:
            message = (
                f"order {step.orphan.exchange_order_id if step.orphan else '?'} left open on the exchange "
                "(adopting it is not implemented: cancel it by hand, or run repair again)"
            )
        else:
            message = f"{step.kind.value} step declined; nothing recorded"
        return StepOutcome(step, Outcome.declined, message, True)
    if step.kind is StepKind.orphan:
        assert step.orphan is not None and resolver is not None
        order = step.orphan
        _call(lambda: resolver.cancel_orphan(order), f"cancelling order {order.exchange_order_id}")
        return StepOutcome(
            step, Outcome.applied, f"cancelled order {order.exchange_order_id} on the exchange (no event: "
            "no trade of ours knew it)"
        )
    try:
        store.record(list(step.events))
    except (OSError, StoreError) as exc:
        # Each step is one batch: the steps before this one are in the log, this one and the rest
        # are not. The caller must not snapshot the state in memory, which may hold this batch.
        subject = f"trade {step.trade_id}" if step.kind is StepKind.trade else f"position {step.position_id}"
        names = ", ".join(e.type_name for e in step.events)
        when = "once there is space" if is_disk_full(exc) else "once the log can be written"
        raise RepairError(
            f"could not record the repair of {subject} ({names}): {write_problem(exc)}; the changes "
            f"before it are recorded, it and those after it are not; run `trade-executor repair` again {when}"
        ) from None
    return StepOutcome(step, Outcome.applied, _applied_text(store.state, step))


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def write_problem(exc: OSError | StoreError) -> str:
    """What went wrong writing a file, in words (a full disk says so)."""
    if isinstance(exc, OSError):
        if is_disk_full(exc):
            return f"the disk is full ({exc.strerror})"
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return str(exc)


def _applied_text(state: State, step: RepairStep) -> str:
    names = ", ".join(type(e).type_name for e in step.events)
    if step.kind is StepKind.trade and step.trade_id is not None:
        trade = state.portfolio.trades[step.trade_id]
        text = f"recorded {names}: trade {trade.id} is {trade.status.value}"
        if trade.position_id in state.portfolio.closed_positions:
            text += f", position {trade.position_id} closed"
        return text
    position_id = step.position_id or 0
    where = "closed" if position_id in state.portfolio.closed_positions else "open"
    return f"recorded {names}: position {position_id} is {where}"


# --- text -------------------------------------------------------------------------------------------


def _pair(state: State, position: Position) -> str:
    pair = state.pairs.get(position.pair_id)
    return pair.symbol if pair else f"pair {position.pair_id}"


def _trade_text(state: State, trade: Trade) -> str:
    pair = state.pairs.get(trade.pair_id)
    symbol = pair.symbol if pair else f"pair {trade.pair_id}"
    price = f" @ {trade.limit_price}" if trade.limit_price is not None else ""
    order = f", order {trade.exchange_order_id}" if trade.exchange_order_id else ""
    filled = f", {trade.filled_quantity} filled" if trade.fills else ""
    return (
        f"trade {trade.id} (position {trade.position_id}, {symbol} {trade.side.value} {trade.quantity} "
        f"{trade.order_type.value}{price}{filled}, client id {trade.client_order_id}{order})"
    )


def orphan_text(order: OrphanOrder) -> str:
    price = f" @ {order.price}" if order.price is not None else " at market"
    client = f", client id {order.client_order_id}" if order.client_order_id else ""
    return f"{order.exchange_order_id} {order.symbol} {order.side.value} {order.amount}{price}{client}"


def describe_event(event: Event) -> str:
    """A short, human description of an event the exchange reported."""
    if isinstance(event, FillReceived):
        return f"fill_received {event.quantity} @ {event.price} (fee {event.fee} {event.fee_asset})"
    if isinstance(event, OrderSubmitted):
        return f"order_submitted (order {event.exchange_order_id})"
    detail = getattr(event, "reason", "") or getattr(event, "note", "")
    return f"{event.type_name}" + (f" ({detail})" if detail else "")
