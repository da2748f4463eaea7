"""A run of a strategy from the outside: open the store, load data and strategy, run, close.

`run_session` is what `trade-executor start` and `trade-executor backtest` call, and what tests
and benchmarks call to measure exactly the path users run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeexecutor.analysis.performance import statistics_from_files
from tradeexecutor.analysis.statistics import Statistics, format_statistics
from tradeexecutor.app import run_config as run_config_module
from tradeexecutor.clock import wall_clock
from tradeexecutor.execution.simulated import SimulatedVenue, SimulatedVenueConfig
from tradeexecutor.execution.venue import Venue
from tradeexecutor.market.candles import Candle, load_candles
from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH
from tradeexecutor.redaction import redact, register_secret
from tradeexecutor.risk.limits import RiskLimits
from tradeexecutor.state.clock import Clock
from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.decision import DEFAULT_MAX_INTENTS_PER_CYCLE
from tradeexecutor.strategy.loader import DEFAULT_STRATEGY, load_strategy
from tradeexecutor.strategy.runner import CycleRunner, MarketSpec, RunConfig, RunOutcome, RunSetupError

MODES = ("backtest", "paper", "live")

#: Seconds a strategy hook may run in paper and live mode unless configured otherwise.
DEFAULT_DECIDE_TIMEOUT = 60.0

#: Seconds between snapshots in paper and live mode unless configured otherwise.
DEFAULT_SNAPSHOT_EVERY = 60.0


@dataclass
class SessionConfig:
    mode: str = "paper"
    strategy: str = DEFAULT_STRATEGY
    parameters: dict[str, str] = field(default_factory=dict)
    data: Path | None = None
    candles: Sequence[Candle] | None = None
    state_dir: Path = Path("state")
    executor_id: str = "default"
    start: datetime | None = None
    end: datetime | None = None
    initial_cash: Decimal = Decimal("10000")
    fee: Decimal = Decimal("0.001")
    slippage_bps: Decimal = Decimal(0)
    fill_at: str = "next_open"
    max_cycles: int | None = None
    cycle_duration: float = 0.0
    pair: str = "BTC/USDT"
    base_decimals: int = 8
    risk: RiskLimits = field(default_factory=RiskLimits)
    fresh: bool = False
    #: Seconds between snapshots saved while running (None: the mode's default, 60 in paper and
    #: live, only at the end in backtest; 0: only at the end). Paper and live also save one after
    #: every cycle that moved money or orders.
    snapshot_every: float | None = None
    exchange: str = "binance"
    exchange_url: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    timeframe: str = "1m"
    reconcile_every: int = 10
    unknown_order_grace: float = 15.0
    #: The time of everything recorded outside a backtest (a backtest takes its candles' times).
    clock: Clock = wall_clock
    #: Seconds a strategy hook may run: None gives the mode's default (60 in paper and live, no
    #: limit in backtest); 0 turns the limit off.
    decide_timeout: float | None = None
    #: Intents carried out per cycle; the excess is refused (recorded as one intent_refused).
    max_intents_per_cycle: int = DEFAULT_MAX_INTENTS_PER_CYCLE
    #: Resume even though the run configuration differs from the recorded one (and record the change).
    accept_config_change: bool = False
    #: Verify and replay the whole log at start-up instead of the O(1) check of a sealed snapshot.
    verify_log: bool = False
    #: live: seconds the exchange may stay unreachable before the run stops (0: no limit).
    max_outage: float = 600.0
    #: live: seconds start-up reads (markets, balances, candles) are retried before giving up.
    start_up_timeout: float = 30.0
    #: live: the first wait before retrying an exchange call (it doubles, with jitter).
    retry_first_delay: float = 0.2

    def snapshot_interval(self) -> float:
        """The seconds between snapshots the run uses (see `snapshot_every`; 0: only at the end)."""
        if self.snapshot_every is None:
            return 0.0 if self.mode == "backtest" else DEFAULT_SNAPSHOT_EVERY
        return self.snapshot_every

    def hook_time_limit(self) -> float | None:
        """The time limit the run uses (see `decide_timeout`)."""
        if self.decide_timeout is None:
            return None if self.mode == "backtest" else DEFAULT_DECIDE_TIMEOUT
        return self.decide_timeout or None


@dataclass
class SessionResult:
    outcome: RunOutcome
    statistics: Statistics
    paths: StatePaths
    candles: int
    elapsed_s: float


def select_candles(candles: Sequence[Candle], start: datetime | None, end: datetime | None) -> list[Candle]:
    selected = [c for c in candles if (start is None or c.at >= start) and (end is None or c.at <= end)]
    if not selected:
        raise RunSetupError(
            f"no candles between {start or 'the start'} and {end or 'the end'} "
            f"(the data covers {candles[0].at:%Y-%m-%d %H:%M} to {candles[-1].at:%Y-%m-%d %H:%M})"
            if candles
            else "the data has no candles"
        )
    return selected


def _move_aside(paths: StatePaths, now: datetime) -> Path | None:
    """For --fresh: keep the old files in a backup folder rather than deleting anyone's history.

    The writer lock is taken first: a --fresh against a running executor changes nothing (the
    lock's error says who holds it). Backup folders get a counter when the second is taken."""
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(paths.lock)
    lock.acquire()
    try:
        existing = [p for p in (paths.log, paths.snapshot, paths.equity) if p.exists()]
        if not existing:
            return None
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        backup = paths.state_dir / f"{paths.executor_id}.backup-{stamp}"
        counter = 1
        while True:
            try:
                backup.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                counter += 1
                backup = paths.state_dir / f"{paths.executor_id}.backup-{stamp}-{counter}"
        for path in existing:
            shutil.move(str(path), backup / path.name)
        return backup
    finally:
        lock.release()


def run_session(
    config: SessionConfig,
    venue: Venue | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SessionResult:
    if config.mode not in MODES:
        raise RunSetupError(f"mode {config.mode!r} is not one of {', '.join(MODES)}")
    if config.mode == "live":
        return _run_live(config, progress)
    started = time.perf_counter()
    strategy = load_strategy(config.strategy, config.parameters)
    if config.candles is not None:
        candles = list(config.candles)
    else:
        data = config.data or SAMPLE_DATA_PATH
        if not Path(data).is_file():
            raise RunSetupError(f"data file {data} does not exist (give --data a CSV or ccxt OHLCV JSON file)")
        candles = load_candles(data)
    candles = select_candles(candles, config.start, config.end)
    paths = StatePaths(Path(config.state_dir), config.executor_id)
    if config.fresh:
        _move_aside(paths, config.clock())
    backtest = config.mode == "backtest"
    if backtest and (paths.log.exists() or paths.snapshot.exists()):
        raise RunSetupError(
            f"{paths.log} already exists: a backtest starts from an empty state. "
            "Add --fresh (the old files are moved to a backup folder) or use another --id"
        )
    if venue is None:
        venue = SimulatedVenue(
            SimulatedVenueConfig(
                taker_fee=config.fee,
                maker_fee=config.fee,
                slippage_bps=config.slippage_bps,
                fill_at=config.fill_at,  # type: ignore[arg-type]
            )
        )
    run_config = RunConfig(
        executor_id=config.executor_id,
        mode=config.mode,
        market=MarketSpec.from_symbol(config.pair, venue=venue.name, base_decimals=config.base_decimals),
        initial_cash=config.initial_cash,
        risk=config.risk,
        max_cycles=config.max_cycles,
        cycle_duration=config.cycle_duration,
        snapshot_every=config.snapshot_interval(),
        snapshot_after_changes=not backtest,
        decide_timeout=config.hook_time_limit(),
        max_intents_per_cycle=config.max_intents_per_cycle,
    )
    store = StateStore(
        paths.state_dir, paths.executor_id, fsync_each_batch=not backtest, verify_log=config.verify_log
    ).open()
    try:
        configured = run_config_module.from_session(config, strategy, candles)
        event = run_config_module.configuration_event(store.state, configured, config.accept_config_change)
        run_config = replace(run_config, configured=event)
        runner = CycleRunner(
            store,
            strategy,
            venue,
            candles,
            run_config,
            clock=None if backtest else config.clock,
            progress=progress,
        )
        outcome = runner.run()
    finally:
        store.close()
    # The candles and the strategy's history are done with: let them go before the curve is read
    # for the statistics, so a long backtest does not hold both at once.
    count, run_state = len(candles), runner.run_state
    del candles, runner, strategy, venue
    statistics = statistics_from_files(outcome.state, paths)
    run_state.summary_statistics = dict(format_statistics(statistics))
    return SessionResult(outcome, statistics, paths, count, time.perf_counter() - started)


def _run_live(config: SessionConfig, progress: Callable[[int, int], None] | None) -> SessionResult:
    """Live trading through ccxt: the venue, the candle feed and reconciliation are the exchange's."""
    from tradeexecutor.execution.ccxt_venue import CcxtVenue
    from tradeexecutor.execution.exchange_client import make_exchange
    from tradeexecutor.execution.outage import VenueHealth, VenueOutageTooLong
    from tradeexecutor.execution.retry import RetryPolicy, retry_after_header
    from tradeexecutor.market.exchange_feed import ExchangeCandleFeed

    if not config.api_key or not config.api_secret:
        raise RunSetupError(
            "live mode needs the exchange API key and secret in the environment variables "
            "TRADE_EXECUTOR_API_KEY and TRADE_EXECUTOR_API_SECRET"
        )
    register_secret(config.api_key)
    register_secret(config.api_secret)
    started = time.perf_counter()
    strategy = load_strategy(config.strategy, config.parameters)
    try:
        exchange = make_exchange(config.exchange, config.api_key, config.api_secret, base_url=config.exchange_url)
    except ValueError as exc:
        raise RunSetupError(str(exc)) from None
    wall = config.clock
    where = f"{config.exchange} at {config.exchange_url}" if config.exchange_url else config.exchange
    retry = RetryPolicy(first_delay=config.retry_first_delay)
    start_up = retry.for_start_up(config.start_up_timeout)
    health = VenueHealth(exchange.id, wall, config.max_outage, where=where)
    with _start_up_errors(where, config.start_up_timeout):
        venue = CcxtVenue(
            exchange, config.pair, retry=retry, clock=wall, unknown_grace=config.unknown_order_grace,
            health=health, start_up_retry=start_up,
        )  # fmt: skip
        balance = start_up.call(exchange.fetch_balance, time.sleep, retry_after_header(exchange))
    feed = ExchangeCandleFeed(
        exchange, config.pair, config.timeframe, config.cycle_duration, health=health, retry=retry,
        retry_after=retry_after_header(exchange),
    )  # fmt: skip
    paths = StatePaths(Path(config.state_dir), config.executor_id)
    if config.fresh:
        _move_aside(paths, config.clock())
    market = venue.market
    totals = {asset: Decimal(repr(v)) for asset, v in (balance.get("total") or {}).items() if v}
    store = StateStore(paths.state_dir, paths.executor_id, fsync_each_batch=True, verify_log=config.verify_log).open()
    try:
        if store.state.created_at is None:
            if totals.get(market["base"]):
                raise RunSetupError(
                    f"the account already holds {totals[market['base']]} {market['base']}; a new live state starts "
                    f"from {market['quote']} only (sell it, or use an account without it)"
                )
            initial = totals.get(market["quote"], Decimal(0))
            if initial <= 0:
                raise RunSetupError(f"the account holds no {market['quote']} to trade with")
        else:
            initial = run_config_module.recorded_initial_cash(store.state, config.initial_cash)
        configured = run_config_module.from_session(config, strategy, [], initial)
        event = run_config_module.configuration_event(store.state, configured, config.accept_config_change)
        # On a resume the feed starts after the last completed cycle's candle: never the same one twice.
        with _start_up_errors(where, config.start_up_timeout):
            feed.retry = start_up
            history = feed.history(after=store.state.equity.last_at)
            feed.retry = retry
        health.attach(store.record)
        run_config = RunConfig(
            executor_id=config.executor_id,
            mode="live",
            market=_with_rules(
                MarketSpec.from_symbol(
                    config.pair, venue=venue.name, base_decimals=_decimals(market, "amount", config.base_decimals)
                ),
                market,
            ),
            initial_cash=initial,
            risk=config.risk,
            max_cycles=config.max_cycles,
            reconcile_every=config.reconcile_every,
            snapshot_every=config.snapshot_interval(),
            snapshot_after_changes=True,
            decide_timeout=config.hook_time_limit(),
            max_intents_per_cycle=config.max_intents_per_cycle,
            configured=event,
        )
        runner = CycleRunner(store, strategy, venue, history, run_config, clock=wall, progress=progress, feed=iter(feed))
        try:
            outcome = runner.run()
        except VenueOutageTooLong as exc:
            runner.run_state.stopped()
            raise RunSetupError(str(exc)) from None
    finally:
        store.close()
    statistics = statistics_from_files(outcome.state, paths)
    runner.run_state.summary_statistics = dict(format_statistics(statistics))
    return SessionResult(outcome, statistics, paths, outcome.cycles_run, time.perf_counter() - started)


def _with_rules(spec: MarketSpec, market: dict[str, Any]) -> MarketSpec:
    """The ccxt market's trading rules on `spec`: amount step, minimum amount and minimum cost."""
    limits = market.get("limits") or {}

    def number(value: object) -> Decimal | None:
        return Decimal(repr(value)) if isinstance(value, (int, float)) and value > 0 else None

    return replace(
        spec,
        lot_size=number((market.get("precision") or {}).get("amount")),
        min_quantity=number((limits.get("amount") or {}).get("min")),
        min_notional=number((limits.get("cost") or {}).get("min")),
    )


@contextmanager
def _start_up_errors(where: str, timeout: float) -> Iterator[None]:
    """Exchange errors at start-up as one line each (transient ones were retried for `timeout` s)."""
    import ccxt

    from tradeexecutor.execution.outage import describe

    try:
        yield
    except ccxt.AuthenticationError as exc:
        raise RunSetupError(f"the exchange refused the API key ({type(exc).__name__}); check the key and secret") from None
    except ccxt.NetworkError as exc:
        raise RunSetupError(
            f"exchange {where} unreachable for {timeout:g}s at start-up: {describe(exc)}; check --exchange-url"
        ) from None
    except ccxt.BaseError as exc:
        raise RunSetupError(f"the exchange answered with an error at start-up: {describe(exc)}") from None
    except ValueError as exc:
        raise RunSetupError(redact(str(exc))) from None


def _decimals(market: dict[str, Any], key: str, default: int) -> int:
    """Decimal places of the market's amount step (0.00001 -> 5), at least the asset's default."""
    step = (market.get("precision") or {}).get(key)
    if not step:
        return default
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(default, -int(exponent)) if isinstance(exponent, int) else default
