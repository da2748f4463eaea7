"""`replay --re-decide`: run a strategy again over the observations recorded in a log.

The log holds every candle the strategy saw (`market_observed`) and what it decided
(`strategy_decided`, written only when it returned intents). Replaying the events rebuilds the
exact state the strategy saw at each decision, so a deterministic strategy must return the same
intents; the first cycle where it does not is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradeexecutor.market.candles import Candle
from tradeexecutor.state.events import (
    ExecutorStarted,
    FillReceived,
    MarketObserved,
    StrategyDecided,
    StrategyFailed,
)
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.eventlog import EventLog
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.strategy.api import CandleHistory, CycleInput
from tradeexecutor.strategy.decision import DEFAULT_MAX_INTENTS_PER_CYCLE, cap_intents, collect_intents
from tradeexecutor.strategy.loader import LoadedStrategy
from tradeexecutor.strategy.sandbox import StrategyCaller


@dataclass(frozen=True)
class Mismatch:
    cycle: int
    at: datetime
    recorded: tuple[str, ...]
    decided: tuple[str, ...]


@dataclass(frozen=True)
class RedecideReport:
    cycles_checked: int
    mismatch: Mismatch | None


def _decide(
    strategy: LoadedStrategy,
    cycle_input: CycleInput,
    first: bool,
    filled: set[int],
    caller: StrategyCaller,
    max_intents: int,
) -> tuple[str, ...]:
    try:
        intents, _ = cap_intents(collect_intents(strategy, cycle_input, first, filled, caller), max_intents)
    except Exception as exc:  # the original run may have failed here too: compare as text
        return (f"raised {type(exc).__name__}: {exc}",)
    return tuple(intent.describe() for intent in intents)


def redecide(
    paths: StatePaths, strategy: LoadedStrategy, max_intents: int = DEFAULT_MAX_INTENTS_PER_CYCLE
) -> RedecideReport:
    """The strategy's hooks run through the same sandbox as in a run (no time limit): a
    strategy that tries to change the replayed state is reported as raising, the state is not
    changed. `max_intents` must be the run's `max_intents_per_cycle`."""
    caller = StrategyCaller(strategy.name)
    log = EventLog.of(paths)
    state = State()
    history = CandleHistory()
    filled: set[int] = set()
    first_cycle = True
    pending: tuple[int, datetime, tuple[str, ...]] | None = None
    checked = 0

    def compare(recorded: tuple[str, ...]) -> Mismatch | None:
        nonlocal pending, checked
        assert pending is not None
        cycle, at, decided = pending
        pending = None
        checked += 1
        return None if decided == recorded else Mismatch(cycle, at, recorded, decided)

    for record in log.records():
        event = record.event
        assert event is not None
        if pending is not None:
            if type(event) is StrategyDecided:
                mismatch = compare(event.intents)
            elif type(event) is StrategyFailed:
                mismatch = compare(
                    pending[2] if pending[2][:1] and pending[2][0].startswith("raised") else ()
                )
            else:
                mismatch = compare(())
            if mismatch is not None:
                return RedecideReport(checked, mismatch)
        event_type = type(event)
        if event_type is ExecutorStarted:
            first_cycle = True
        elif isinstance(event, FillReceived):
            filled.add(event.trade_id)
        apply(state, event, record.seq)
        if isinstance(event, MarketObserved):
            history.append(Candle(event.at, event.open, event.high, event.low, event.close, event.volume))
            pair = state.pairs[event.pair_id]
            cycle_input = CycleInput(
                event.at, state.cycle + 1, state, pair, history, event.close, None, strategy.parameters
            )
            decided = _decide(strategy, cycle_input, first_cycle, filled, caller, max_intents)
            pending = (state.cycle + 1, event.at, decided)
            first_cycle = False
    if pending is not None:
        mismatch = compare(())
        if mismatch is not None:
            return RedecideReport(checked, mismatch)
    return RedecideReport(checked, None)
