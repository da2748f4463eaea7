"""The cycle runner: one loop for backtest, paper and live.

Each cycle:
1. the venue reports what happened to open orders (fills, expiries);
2. the candle the strategy will see is recorded (`market_observed`);
3. the strategy decides; its intents are recorded (`strategy_decided`), checked against the risk
   limits, sized, planned (`trade_planned`, logged before anything is sent) and submitted
   (`orders.py`);
4. `cycle_completed` marks positions at the observed prices and adds an equity point.
Whatever goes wrong in the strategy (an exception, `sys.exit`, a write to the read-only state, a
hook over its time limit; see `sandbox.py`) is recorded (`strategy_failed`) and in `RunState`, and
ends the run. SIGTERM and SIGINT stop it between cycles, or at once while it waits or while a
strategy hook runs (see `stopping.py`); the session then saves the snapshot.
"""

from __future__ import annotations

import time
import traceback as traceback_module
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import islice
from types import MappingProxyType

from tradeexecutor import __version__
from tradeexecutor.execution.venue import Venue
from tradeexecutor.market.candles import Candle
from tradeexecutor.redaction import redact
from tradeexecutor.risk.limits import RiskLimits
from tradeexecutor.state.clock import Clock
from tradeexecutor.state.events import (
    AssetRegistered,
    CycleCompleted,
    DepositMade,
    Event,
    ExecutorStarted,
    FillReceived,
    MarketObserved,
    PairRegistered,
    PairRulesRecorded,
    StateCreated,
    StrategyFailed,
)
from tradeexecutor.state.identifiers import PairKind, TradingPair
from tradeexecutor.state.state import State
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.api import CandleHistory, CycleInput
from tradeexecutor.strategy.decision import (
    DEFAULT_MAX_INTENTS_PER_CYCLE,
    cap_intents,
    collect_intents,
)
from tradeexecutor.strategy.loader import LoadedStrategy
from tradeexecutor.strategy.orders import IntentExecutor
from tradeexecutor.strategy.runstate import RUN_STATE, Crash, RunState
from tradeexecutor.strategy.sandbox import StrategyCaller, StrategyFailure, trimmed
from tradeexecutor.strategy.stopping import StopRequested, StopSignals


class RunSetupError(Exception):
    """The run cannot start as configured (the message says why and what to do)."""


@dataclass(frozen=True)
class MarketSpec:
    symbol: str = "BTC/USDT"
    base: str = "BTC"
    quote: str = "USDT"
    venue: str = "simulated"
    kind: PairKind = PairKind.spot
    base_decimals: int = 8
    quote_decimals: int = 6
    #: The venue's trading rules, when known (recorded as `pair_rules_recorded`; dust is measured by them).
    lot_size: Decimal | None = None
    min_quantity: Decimal | None = None
    min_notional: Decimal | None = None

    @classmethod
    def from_symbol(cls, symbol: str, venue: str = "simulated", base_decimals: int = 8) -> MarketSpec:
        if symbol.count("/") != 1:
            raise RunSetupError(f"pair {symbol!r} is not of the form BASE/QUOTE (e.g. BTC/USDT)")
        base, quote = symbol.split("/")
        return cls(symbol=symbol, base=base, quote=quote, venue=venue, base_decimals=base_decimals)


@dataclass(frozen=True)
class RunConfig:
    executor_id: str
    mode: str
    market: MarketSpec = field(default_factory=MarketSpec)
    initial_cash: Decimal = Decimal("10000")
    risk: RiskLimits = field(default_factory=RiskLimits)
    max_cycles: int | None = None
    cycle_duration: float = 0.0
    #: Seconds between snapshots saved while running, whatever happened (0: only at the end).
    snapshot_every: float = 0.0
    #: Also save the snapshot after every cycle that moved money or orders (paper and live).
    snapshot_after_changes: bool = False
    reconcile_every: int = 0
    #: Seconds a strategy hook may run (None: no limit); enforced on the main thread (sandbox.py).
    decide_timeout: float | None = None
    #: Intents carried out per cycle; the excess is refused with one `intent_refused` event.
    max_intents_per_cycle: int = DEFAULT_MAX_INTENTS_PER_CYCLE
    #: Makes the `run_configured` event recorded before `executor_started` (None: nothing changed).
    configured: Callable[[datetime], Event] | None = None


@dataclass
class RunOutcome:
    state: State
    cycles_run: int
    crash: Crash | None = None
    stopped_early: bool = False
    #: The data was already exhausted: nothing was run and nothing was recorded.
    nothing_to_do: bool = False
    #: "SIGTERM" or "SIGINT" when a signal stopped the run.
    stopped_by: str | None = None
    #: Intents refused and orders rejected during this run, per reason (most frequent first).
    refusals: list[tuple[str, int]] = field(default_factory=list)
    refused_intents: int = 0
    rejected_orders: int = 0
    #: Trades planned during this run (whatever became of them).
    orders_planned: int = 0

    @property
    def nothing_got_through(self) -> bool:
        """The strategy asked for something and all of it was refused or rejected."""
        refused = self.refused_intents + self.rejected_orders
        return refused > 0 and self.orders_planned <= self.rejected_orders


class CycleRunner:
    def __init__(
        self,
        store: StateStore,
        strategy: LoadedStrategy,
        venue: Venue,
        candles: Sequence[Candle],
        config: RunConfig,
        run_state: RunState = RUN_STATE,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[int, int], None] | None = None,
        feed: Iterator[Candle] | None = None,
    ) -> None:
        """`candles` is the data of a backtest/paper run, or the history before a live `feed`,
        which yields one new candle per cycle (and does its own waiting). `clock` is the only
        source of the time outside a backtest (which takes its candles' times); a live feed
        needs one."""
        self.feed = feed
        self.store = store
        self.strategy = strategy
        self.venue = venue
        self.candles = list(candles)
        self.config = config
        self.run_state = run_state
        self.clock = clock
        self.sleep = sleep
        self.progress = progress
        self._filled: set[int] = set()
        self.orders = IntentExecutor(store, venue, config.risk)

    # --- set-up ------------------------------------------------------------------------------------

    def _record_watching_fills(self, events: Sequence[Event]) -> None:
        self.store.record(events)
        for event in events:
            if type(event) is FillReceived:
                self._filled.add(event.trade_id)

    def _ensure_created(self, at: datetime) -> TradingPair:
        state = self.store.state
        market = self.config.market
        if state.created_at is None:
            if self.config.initial_cash <= 0:
                raise RunSetupError(f"--initial-cash must be positive, got {self.config.initial_cash}")
            self.store.record(
                [
                    StateCreated(at, self.config.executor_id, market.quote),
                    AssetRegistered(at, market.quote, market.quote_decimals),
                    AssetRegistered(at, market.base, market.base_decimals),
                    PairRegistered(at, 1, market.symbol, market.base, market.quote, market.venue, market.kind),
                    DepositMade(at, market.quote, self.config.initial_cash, "initial cash"),
                ]
            )
        for pair in state.pairs.values():
            if pair.symbol == market.symbol:
                rules = (market.lot_size, market.min_quantity, market.min_notional)
                if any(rules) and rules != (pair.lot_size, pair.min_quantity, pair.min_notional):
                    self.store.record([PairRulesRecorded(at, pair.id, *rules)])
                return state.pairs[pair.id]
        raise RunSetupError(
            f"the state in {self.store.paths.state_dir} trades {[p.symbol for p in state.pairs.values()]}, "
            f"not {market.symbol}; use another --id or --state-dir"
        )

    def _first_index(self) -> int:
        """Resume after the last completed cycle: the first candle newer than its valuation."""
        last = self.store.state.equity.last_at
        if last is None:
            return 0
        for index, candle in enumerate(self.candles):
            if candle.at > last:
                return index
        return len(self.candles)

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Run until the data ends, `max_cycles` is reached, or the strategy fails.

        Backtests (no fsync per batch) run with the cyclic garbage collector paused: the loop
        allocates millions of short-lived acyclic objects, and every collection would walk the
        whole, growing state. Reference counting frees them all the same.
        """
        if self.store.fsync_each_batch:
            return self._run()
        with gc_paused():
            return self._run()

    def _run(self) -> RunOutcome:
        state = self.store.state
        clock = self.clock
        if self.feed is None:
            if not self.candles:
                raise RunSetupError("the market data has no candles")
            start_index = self._first_index()
            end_index = len(self.candles)
            if self.config.max_cycles is not None:
                end_index = min(end_index, start_index + self.config.max_cycles)
            if start_index >= end_index and state.created_at is not None:
                # Resuming past the end of the data: record nothing (not even executor_started).
                return RunOutcome(state, 0, nothing_to_do=True)
            feed: Iterator[Candle] = iter(self.candles[start_index:end_index])
            history = CandleHistory(self.candles[:start_index])
            total = end_index - start_index
            created_at = self.candles[0].at
            first_at = self.candles[min(start_index, len(self.candles) - 1)].at
        else:
            if clock is None:
                raise RunSetupError("a run on a live feed needs a clock")
            feed = self.feed if self.config.max_cycles is None else islice(self.feed, self.config.max_cycles)
            history = CandleHistory(self.candles)
            total = self.config.max_cycles or 0
            end_index = 0
            first_at = created_at = clock()
        if self.config.max_intents_per_cycle < 1:
            raise RunSetupError(f"max_intents_per_cycle must be at least 1, got {self.config.max_intents_per_cycle}")
        if self.config.decide_timeout is not None and not 0 <= self.config.decide_timeout < 1e9:
            raise RunSetupError(f"the decide timeout must be a number of seconds >= 0, got {self.config.decide_timeout}")
        pair = self._ensure_created(created_at)
        started_at = clock() if clock else first_at
        if self.config.configured is not None:
            self.store.record([self.config.configured(started_at)])
        self.store.record([ExecutorStarted(started_at, __version__, self.config.mode)])
        self._recover(started_at)
        self.run_state.started(
            self.config.executor_id, self.config.mode, started_at, str(self.strategy.path), self.strategy.source_sha256
        )
        refusals_before = dict(state.refusals.by_reason)
        counts_before = (state.refusals.intents, state.refusals.orders, state.portfolio.next_trade_id)
        caller = StrategyCaller(self.strategy.name, self.config.decide_timeout)
        stops = StopSignals()
        with stops.installed(), caller.installed():
            outcome = self._loop(state, pair, feed, history, total, caller, stops)
        if outcome.crash is None and outcome.stopped_by is None:
            outcome.stopped_early = self.feed is None and end_index < len(self.candles)
        refusals = state.refusals
        outcome.refused_intents = refusals.intents - counts_before[0]
        outcome.rejected_orders = refusals.orders - counts_before[1]
        outcome.orders_planned = state.portfolio.next_trade_id - counts_before[2]
        in_run = {reason: count - refusals_before.get(reason, 0) for reason, count in refusals.by_reason.items()}
        outcome.refusals = sorted(((r, n) for r, n in in_run.items() if n > 0), key=lambda item: (-item[1], item[0]))
        return outcome

    def _loop(
        self,
        state: State,
        pair: TradingPair,
        feed: Iterator[Candle],
        history: CandleHistory,
        total: int,
        caller: StrategyCaller,
        stops: StopSignals,
    ) -> RunOutcome:
        on_fill = self.strategy.on_fill
        parameters = MappingProxyType(dict(self.strategy.parameters))
        strategy = self.strategy
        record = self.store.record
        venue_record = self._record_watching_fills if on_fill else record
        pair_id = pair.id
        run_state = self.run_state
        progress = self.progress
        pace = self.config.cycle_duration
        snapshot_due = self._snapshot_schedule()
        reconcile_every = self.config.reconcile_every
        max_intents = self.config.max_intents_per_cycle
        execute = self.orders.execute
        clock = self.clock
        filled = self._filled
        cycles_run = 0
        first_cycle = True
        while True:
            try:
                stops.interruptible = True  # waiting for the next candle: nothing is being recorded
                candle = next(feed, None)
                stops.interruptible = False
            except StopRequested:
                break
            if candle is None:
                break
            at = candle.at
            cycle = state.cycle + 1
            try:
                self.venue.on_cycle(state, candle, venue_record)
                record([MarketObserved(at, pair_id, candle.open, candle.high, candle.low, candle.close, candle.volume)])
                history.append(candle)
                cycle_input = CycleInput(at, cycle, state, pair, history, candle.close, None, parameters)
                stops.interruptible = True  # the strategy records nothing: a stop may abandon the cycle
                intents = collect_intents(strategy, cycle_input, first_cycle, filled, caller)
                stops.interruptible = False
                first_cycle = False
                if intents:
                    intents, excess = cap_intents(intents, max_intents)
                    execute(cycle_input, candle, intents, venue_record)
                    if excess:
                        self.orders.refuse_excess(at, excess, max_intents)
            except StopRequested:
                break
            except Exception as exc:  # the strategy's or the venue's failure: record it, stop the run
                stops.interruptible = False
                return self._crashed(state, at, cycle, exc, cycles_run)
            record([CycleCompleted(at, cycle)])
            cycles_run += 1
            lag = (clock() - at).total_seconds() if clock is not None else None
            run_state.cycle_done(cycle, at, len(state.portfolio.open_positions), len(state.portfolio.frozen_positions), lag)
            if reconcile_every and cycles_run % reconcile_every == 0:
                try:
                    self.venue.reconcile(state, venue_record, clock() if clock else at)
                except Exception as exc:  # the venue's failure: record it, stop the run
                    return self._crashed(state, at, cycle, exc, cycles_run)
            if snapshot_due is not None and snapshot_due():
                self.store.save_snapshot(wait=False)  # written by the store's background writer
            if progress is not None:
                progress(cycles_run, total)
            if stops.requested is not None:
                break
            if pace:
                try:
                    stops.interruptible = True
                    self.sleep(pace)
                    stops.interruptible = False
                except StopRequested:
                    break
        stops.interruptible = False
        run_state.stopped()
        return RunOutcome(state, cycles_run, stopped_by=stops.name)

    def _snapshot_schedule(self) -> Callable[[], bool] | None:
        """Whether a snapshot is due at the end of a cycle: after one that moved money or orders
        (`snapshot_after_changes`), or when `snapshot_every` seconds have passed since the last
        one and something was recorded since. None when snapshots are saved only at the end."""
        every, after_changes, store = self.config.snapshot_every, self.config.snapshot_after_changes, self.store
        if not every and not after_changes:
            return None
        last = [time.monotonic()]

        def due() -> bool:
            saved = store.snapshot_seq
            if after_changes and store.money_seq > saved:
                last[0] = time.monotonic()
                return True
            if every and store.state.last_event_seq > saved:
                now = time.monotonic()
                if now - last[0] >= every:
                    last[0] = now
                    return True
            return False

        return due

    def _recover(self, at: datetime) -> None:
        """Bring open orders up to date after a start: the venue settles what was under way (a
        live venue asks the exchange; the simulator cancels unsent trades), then carries on."""
        self.venue.recover(self.store.state, self.store.record, at)
        self.venue.adopt_open_orders(self.store.state)

    def _crashed(self, state: State, at: datetime, cycle: int, exc: Exception, cycles_run: int) -> RunOutcome:
        by_strategy = isinstance(exc, StrategyFailure)
        if isinstance(exc, StrategyFailure):
            error, text, tb = exc.message, exc.traceback_text(), exc.trimmed_traceback()
        else:
            error = f"{type(exc).__name__}: {exc}"
            tb = trimmed(exc.__traceback__)
            text = "".join(traceback_module.format_exception(type(exc), exc, tb))
        crash = self.run_state.crashed(at, cycle, exc, error, tb, by_strategy)
        self.store.record([StrategyFailed(at, cycle, redact(error), redact(text))])
        return RunOutcome(state, cycles_run, crash=crash)
