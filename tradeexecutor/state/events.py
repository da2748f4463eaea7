"""Events: one frozen dataclass per fact. The catalogue with one line each is docs/events.md.

Every event carries `at`, the UTC time the fact happened (from the injected clock, never read
here). Each class has a `type_name`, the `type` written in the log.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.trade import OrderType, Side


@dataclass(slots=True, frozen=True)
class Event:
    """Base of all events."""

    type_name: ClassVar[str] = "event"
    at: datetime


@dataclass(slots=True, frozen=True)
class StateCreated(Event):
    type_name: ClassVar[str] = "state_created"
    executor_id: str
    reserve_currency: str


@dataclass(slots=True, frozen=True)
class ExecutorStarted(Event):
    type_name: ClassVar[str] = "executor_started"
    version: str
    mode: str


@dataclass(slots=True, frozen=True)
class AssetRegistered(Event):
    type_name: ClassVar[str] = "asset_registered"
    asset_id: str
    decimals: int


@dataclass(slots=True, frozen=True)
class PairRegistered(Event):
    type_name: ClassVar[str] = "pair_registered"
    pair_id: int
    symbol: str
    base: str
    quote: str
    venue: str
    kind: PairKind

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PairKind(self.kind))


@dataclass(slots=True, frozen=True)
class DepositMade(Event):
    type_name: ClassVar[str] = "deposit_made"
    asset: str
    amount: Decimal
    note: str = ""


@dataclass(slots=True, frozen=True)
class WithdrawalMade(Event):
    type_name: ClassVar[str] = "withdrawal_made"
    asset: str
    amount: Decimal
    note: str = ""


@dataclass(slots=True, frozen=True)
class FeeCharged(Event):
    """A fee outside a fill (a withdrawal fee, a fee settled later in another asset)."""

    type_name: ClassVar[str] = "fee_charged"
    asset: str
    amount: Decimal
    position_id: int | None = None
    note: str = ""


@dataclass(slots=True, frozen=True)
class FundingPaid(Event):
    """A perpetual's funding payment: positive `amount` we paid, negative we received."""

    type_name: ClassVar[str] = "funding_paid"
    position_id: int
    amount: Decimal
    note: str = ""


@dataclass(slots=True, frozen=True)
class BalanceCorrected(Event):
    """A signed correction of a reserve, after reconciliation or by an operator."""

    type_name: ClassVar[str] = "balance_corrected"
    asset: str
    amount: Decimal
    reason: str


@dataclass(slots=True, frozen=True)
class TradePlanned(Event):
    """An order intent. `position_id` equal to the portfolio's next id opens a new position."""

    type_name: ClassVar[str] = "trade_planned"
    trade_id: int
    position_id: int
    pair_id: int
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    client_order_id: str
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        # Accept plain strings from callers; the reducer relies on real enum members.
        object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "order_type", OrderType(self.order_type))


@dataclass(slots=True, frozen=True)
class OrderSubmitted(Event):
    type_name: ClassVar[str] = "order_submitted"
    trade_id: int
    exchange_order_id: str | None


@dataclass(slots=True, frozen=True)
class FillReceived(Event):
    type_name: ClassVar[str] = "fill_received"
    trade_id: int
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    exchange_trade_id: str | None = None


@dataclass(slots=True, frozen=True)
class OrderCancelled(Event):
    type_name: ClassVar[str] = "order_cancelled"
    trade_id: int
    reason: str = ""


@dataclass(slots=True, frozen=True)
class OrderRejected(Event):
    type_name: ClassVar[str] = "order_rejected"
    trade_id: int
    reason: str


@dataclass(slots=True, frozen=True)
class OrderExpired(Event):
    type_name: ClassVar[str] = "order_expired"
    trade_id: int
    reason: str = ""


@dataclass(slots=True, frozen=True)
class OrderFailed(Event):
    """The venue call failed and the order's fate is not known yet."""

    type_name: ClassVar[str] = "order_failed"
    trade_id: int
    reason: str


@dataclass(slots=True, frozen=True)
class PositionFrozen(Event):
    type_name: ClassVar[str] = "position_frozen"
    position_id: int
    reason: str


@dataclass(slots=True, frozen=True)
class PositionUnfrozen(Event):
    type_name: ClassVar[str] = "position_unfrozen"
    position_id: int
    note: str = ""


@dataclass(slots=True, frozen=True)
class ValuationRecorded(Event):
    """Mark prices by pair id; the reducer revalues positions and appends a valuation point."""

    type_name: ClassVar[str] = "valuation_recorded"
    prices: dict[int, Decimal] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class CycleCompleted(Event):
    """A cycle finished: live positions are marked at the last observed prices and the equity
    curve gets a point."""

    type_name: ClassVar[str] = "cycle_completed"
    cycle: int


@dataclass(slots=True, frozen=True)
class MarketObserved(Event):
    """A candle the strategy is about to see; recorded first so replay can decide again."""

    type_name: ClassVar[str] = "market_observed"
    pair_id: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(slots=True, frozen=True)
class StrategyDecided(Event):
    """The intents a strategy returned in a cycle (only written when there were any)."""

    type_name: ClassVar[str] = "strategy_decided"
    cycle: int
    intents: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class StrategyFailed(Event):
    """The strategy raised; `traceback` is the formatted text (RunState keeps the tblib form)."""

    type_name: ClassVar[str] = "strategy_failed"
    cycle: int
    error: str
    traceback: str


@dataclass(slots=True, frozen=True)
class ExchangeDifference(Event):
    """Reconciliation found the exchange differing from the state in a way no other event settles
    (an order we do not know, a balance that does not match); recorded for the operator."""

    type_name: ClassVar[str] = "exchange_difference"
    kind: str
    detail: str


@dataclass(slots=True, frozen=True)
class IntentRefused(Event):
    """An intent the risk checks or the sizing refused before anything was sent."""

    type_name: ClassVar[str] = "intent_refused"
    intent: str
    reason: str


@dataclass(slots=True, frozen=True)
class RepairApplied(Event):
    """A compensating event: an operator closed a trade whose fate could not be settled."""

    type_name: ClassVar[str] = "repair_applied"
    trade_id: int
    note: str


@dataclass(slots=True, frozen=True)
class StrategyStateChanged(Event):
    """A strategy state machine moved from one state to the next."""

    type_name: ClassVar[str] = "strategy_state_changed"
    machine: str
    from_state: str | None
    to_state: str


@dataclass(slots=True, frozen=True)
class PairRulesRecorded(Event):
    """The venue's trading rules of a pair, recorded when first known and whenever they change:
    the quantity step, the smallest order and the smallest order value (None: not known). The
    reducer closes a spot position whose remainder after a sell is below them (dust)."""

    type_name: ClassVar[str] = "pair_rules_recorded"
    pair_id: int
    lot_size: Decimal | None = None
    min_quantity: Decimal | None = None
    min_notional: Decimal | None = None


@dataclass(slots=True, frozen=True)
class RunConfigured(Event):
    """The configuration a run uses (strategy and its source digest, parameters, fees, pair,
    data and its digest and range). Recorded when a state is created, and on resume when the
    operator accepted a change (listed in `accepted_changes`) or none was recorded before."""

    type_name: ClassVar[str] = "run_configured"
    strategy: str
    strategy_sha256: str
    mode: str
    pair: str
    fee: Decimal
    slippage_bps: Decimal
    fill_at: str
    initial_cash: Decimal
    data: str
    data_sha256: str | None
    data_first_at: datetime | None
    data_last_at: datetime | None
    exchange_url: str | None
    parameters: dict[str, str] = field(default_factory=dict)
    accepted_changes: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class VenueOutageStarted(Event):
    """A venue stopped answering (a call used up its retries); no new orders go to it until it
    answers again. `since` is when the outage began (equal to `at`)."""

    type_name: ClassVar[str] = "venue_outage_started"
    venue: str
    reason: str
    since: datetime


@dataclass(slots=True, frozen=True)
class VenueOutageEnded(Event):
    """A venue answers again after an outage that began at `since`; trading on it resumes."""

    type_name: ClassVar[str] = "venue_outage_ended"
    venue: str
    reason: str
    since: datetime


@dataclass(slots=True, frozen=True)
class LogRepairApplied(Event):
    """`trade-executor repair` dropped damaged records from the log and kept the good records
    after them (instead of truncating there). It stands where the dropped records stood and lists
    them: their original `seq` numbers and types (`unknown` when the damaged text does not say),
    the sha256 and a short excerpt of each dropped line, and why. When a snapshot covered the
    damage, `restored_state` is that snapshot's state (JSON): it saw the dropped records, so the
    reducer takes it as the state here; otherwise it is empty and the state goes on without them.
    """

    type_name: ClassVar[str] = "log_repair_applied"
    dropped_seqs: tuple[int, ...]
    dropped_types: tuple[str, ...]
    dropped_lines_sha256: tuple[str, ...]
    dropped_excerpts: tuple[str, ...]
    reason: str
    restored_state: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        StateCreated,
        ExecutorStarted,
        AssetRegistered,
        PairRegistered,
        DepositMade,
        WithdrawalMade,
        FeeCharged,
        FundingPaid,
        BalanceCorrected,
        TradePlanned,
        OrderSubmitted,
        FillReceived,
        OrderCancelled,
        OrderRejected,
        OrderExpired,
        OrderFailed,
        PositionFrozen,
        PositionUnfrozen,
        ValuationRecorded,
        CycleCompleted,
        RepairApplied,
        StrategyStateChanged,
        MarketObserved,
        StrategyDecided,
        IntentRefused,
        StrategyFailed,
        ExchangeDifference,
        PairRulesRecorded,
        RunConfigured,
        VenueOutageStarted,
        VenueOutageEnded,
        LogRepairApplied,
    )
}


def slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The `__set__` of a slot: it writes the field without the frozen `__setattr__` guard."""
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and hasattr(descriptor, "__set__"):
            setter: Callable[[Any, Any], None] = descriptor.__set__
            return setter
    raise TypeError(f"{cls.__name__}.{name} is not a slot")


def _fast_frozen_init(cls: type[Event]) -> None:
    """Give a frozen slots event an `__init__` that sets slots directly.

    A frozen dataclass's generated `__init__` goes through `object.__setattr__` once per field;
    events are created several times every cycle, so this halves their cost. Behaviour is the
    same: same parameters and defaults, `__post_init__` still runs, instances stay frozen.
    """
    namespace: dict[str, Any] = {"MISSING": dataclasses.MISSING}
    params, body = ["self"], []
    for index, field_ in enumerate(dataclasses.fields(cls)):
        name = field_.name
        namespace[f"set{index}"] = slot_setter(cls, name)
        if field_.default is not dataclasses.MISSING:
            namespace[f"default{index}"] = field_.default
            params.append(f"{name}=default{index}")
        elif field_.default_factory is not dataclasses.MISSING:
            namespace[f"factory{index}"] = field_.default_factory
            params.append(f"{name}=MISSING")
            body.append(f"    if {name} is MISSING: {name} = factory{index}()")
        else:
            params.append(name)
        body.append(f"    set{index}(self, {name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    exec(f"def __init__({', '.join(params)}):\n" + "\n".join(body), namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]


for _event_class in EVENT_TYPES.values():
    _fast_frozen_init(_event_class)
