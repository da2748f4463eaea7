"""A run of a strategy from the outside: open the store, load data and strategy, run, close.

`run_session` is what `trade-executor start` and `trade-executor backtest` call, and what tests
and benchmarks call to measure exactly the path users run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from tradeexecutor.execution.simulated import SimulatedVenue, SimulatedVenueConfig
from tradeexecutor.execution.venue import Venue
from tradeexecutor.market.candles import Candle, load_candles
from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.loader import DEFAULT_STRATEGY, load_strategy
from tradeexecutor.strategy.performance import statistics_from_state
from tradeexecutor.strategy.risk import RiskLimits
from tradeexecutor.strategy.runner import CycleRunner, MarketSpec, RunConfig, RunOutcome, RunSetupError
from tradeexecutor.strategy.statistics import Statistics

MODES = ("backtest", "paper", "live")


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
    snapshot_every: int = 0


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


def _move_aside(paths: StatePaths) -> Path | None:
    """For --fresh: keep the old files in a backup folder rather than deleting anyone's history."""
    existing = [p for p in (paths.log, paths.snapshot) if p.exists()]
    if not existing:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = paths.state_dir / f"{paths.executor_id}.backup-{stamp}"
    backup.mkdir(parents=True, exist_ok=False)
    for path in existing:
        shutil.move(str(path), backup / path.name)
    return backup


def run_session(
    config: SessionConfig,
    venue: Venue | None = None,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SessionResult:
    if config.mode not in MODES:
        raise RunSetupError(f"mode {config.mode!r} is not one of {', '.join(MODES)}")
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
        _move_aside(paths)
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
        snapshot_every=config.snapshot_every,
    )
    store = StateStore(paths.state_dir, paths.executor_id, fsync_each_batch=not backtest).open()
    try:
        runner = CycleRunner(
            store,
            strategy,
            venue,
            candles,
            run_config,
            clock=None if backtest else (clock or _wall_clock),
            progress=progress,
        )
        outcome = runner.run()
    finally:
        store.close()
    statistics = statistics_from_state(outcome.state)
    return SessionResult(outcome, statistics, paths, len(candles), time.perf_counter() - started)


def _wall_clock() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)
