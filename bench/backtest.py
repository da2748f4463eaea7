"""Benchmark of a backtest: our engine against backtesting.py 0.6.6 on the same SMA crossover.

Run: `python bench/backtest.py` (100,000 one-minute candles) or `python bench/backtest.py --quick`
(10,000 candles, a smoke run). Prints one `name: value` line per figure. Nothing here passes or
fails on time; the figures go into closing notes and the README. Another process competing for the
CPU slows every figure down, so each timing is the best of 3 runs (`--repeat` to change).

What is measured, in one run, on the same candles (`generate_candles(n, 2025-01-01, 1 minute)`):

* `ours_s`: wall time of `run_session(SessionConfig(mode="backtest", ...))` with the bundled
  `tradeexecutor/strategies/sma_crossover.py` (SMA 10/20, long only, 99% of the cash per entry, 0.1% fee), from
  candles already in memory to the end: the strategy is loaded, every cycle's events are applied
  and appended to the event log in a fresh temporary state folder, the log is flushed and fsynced,
  the snapshot written, and the statistics computed. The folder is created before the clock starts.
* `backtesting_py_s`: wall time of `Backtest(df, SmaCross, cash=..., commission=0.001).run()`,
  which includes backtesting.py's statistics. The DataFrame (float OHLCV, DatetimeIndex) is built
  before the clock starts. `SmaCross` is backtesting.py's own example made long only: SMAs as a
  rolling mean in `self.I`, `buy()` (all equity) on `crossover(fast, slow)` when flat,
  `position.close()` on `crossover(slow, fast)`. Both sides start with the same cash, large enough
  for backtesting.py's whole-unit orders at these prices.
* `trades` / `backtesting_py_trades`: closed positions in our state / closed trades in
  `stats._trades`. They may differ slightly: ours trades fractional units and its entry rule is
  `fast <= slow` on the previous bar where `crossover()` needs `fast < slow`.
* `events_written` / `log_bytes`: events and bytes of our event log for one run.
* `cycle_bookkeeping_median_us` / `cycle_bookkeeping_p99_us`: the per-cycle cost of the state
  machinery alone, without the strategy's decision: `StateStore.record([market_observed,
  cycle_completed])` (apply both events to the state and append them to the log), timed one cycle at
  a time over 20,000 cycles (2,000 with `--quick`), on a store opened with
  `fsync_each_batch=False` as backtests use (so about one batch in 8,000 includes a buffered write),
  holding one open position that each `cycle_completed` marks to market, with the cyclic garbage
  collector paused as the backtest loop runs.
* `ours_peak_rss_mb` / `backtesting_py_peak_rss_mb`: peak resident memory of one backtest of
  `--memory-candles` candles (1,000,000 unless `--quick`), each engine in its own fresh Python
  process (`python bench/backtest.py --memory-child ours|theirs N`), ABSOLUTE peak RSS of that
  process (VmHWM, Linux: interpreter, imports, the candles, the run and its statistics), so both
  figures include what each needs to hold the data. Ours reads the candles from a CSV file as
  `trade-executor backtest --data` does; theirs gets the same candles as a float DataFrame read
  from that file with pandas. `*_baseline_rss_mb` is the same process's RSS after its imports,
  before the data is read.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from tradeexecutor import __version__
from tradeexecutor.app.session import SessionConfig, SessionResult, run_session
from tradeexecutor.market.candles import Candle
from tradeexecutor.market.sample_data import generate_candles
from tradeexecutor.state.events import (
    AssetRegistered,
    CycleCompleted,
    DepositMade,
    Event,
    ExecutorStarted,
    FillReceived,
    MarketObserved,
    OrderSubmitted,
    PairRegistered,
    StateCreated,
    TradePlanned,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.trade import OrderType, Side
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.state_store import StateStore

START = datetime(2025, 1, 1, tzinfo=UTC)
INTERVAL = timedelta(minutes=1)
CASH = 1_000_000
FEE = "0.001"

T = TypeVar("T")


def best_of(repeat: int, run: Callable[[], T], setup: Callable[[], None] | None = None) -> tuple[float, T]:
    """Best wall time of `repeat` runs; `setup` and a full collection happen outside the clock."""
    best = float("inf")
    result: T | None = None
    for _ in range(repeat):
        if setup is not None:
            setup()
        gc.collect()
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


# --- ours --------------------------------------------------------------------------------------------


def ours(candles: list[Candle], folder: Path, repeat: int) -> tuple[float, SessionResult]:
    state_dirs: list[Path] = []

    def setup() -> None:
        state_dirs.append(Path(tempfile.mkdtemp(prefix="run-", dir=folder)))

    def run() -> SessionResult:
        config = SessionConfig(
            mode="backtest",
            strategy="sma_crossover",
            candles=candles,
            state_dir=state_dirs[-1],
            initial_cash=Decimal(CASH),
            fee=Decimal(FEE),
        )
        return run_session(config)

    return best_of(repeat, run, setup)


# --- backtesting.py ----------------------------------------------------------------------------------


def candles_frame(candles: list[Candle]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "Open": [float(c.open) for c in candles],
            "High": [float(c.high) for c in candles],
            "Low": [float(c.low) for c in candles],
            "Close": [float(c.close) for c in candles],
            "Volume": [float(c.volume) for c in candles],
        },
        index=pd.DatetimeIndex([c.at.replace(tzinfo=None) for c in candles]),
    )


def theirs(frame: Any, repeat: int) -> tuple[float, Any]:
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values: Any, n: int) -> Any:
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):
        fast = 10
        slow = 20

        def init(self) -> None:
            self.sma_fast = self.I(sma, self.data.Close, self.fast)
            self.sma_slow = self.I(sma, self.data.Close, self.slow)

        def next(self) -> None:
            if crossover(self.sma_fast, self.sma_slow):
                if not self.position:
                    self.buy()
            elif crossover(self.sma_slow, self.sma_fast):
                self.position.close()

    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Some trades remain open at the end", pandas deprecations
            return Backtest(frame, SmaCross, cash=CASH, commission=float(FEE)).run()

    return best_of(repeat, run)


# --- per-cycle bookkeeping ---------------------------------------------------------------------------


def cycle_bookkeeping(candles: list[Candle], folder: Path, cycles: int) -> list[float]:
    """Microseconds of `StateStore.record` for each cycle's `market_observed` + `cycle_completed`."""
    first = candles[0]
    setup: list[Event] = [
        StateCreated(first.at, "bench", "USDT"),
        AssetRegistered(first.at, "USDT", 6),
        AssetRegistered(first.at, "BTC", 8),
        PairRegistered(first.at, 1, "BTC/USDT", "BTC", "USDT", "simulated", PairKind.spot),
        DepositMade(first.at, "USDT", Decimal(CASH), "initial cash"),
        ExecutorStarted(first.at, __version__, "backtest"),
        MarketObserved(first.at, 1, first.open, first.high, first.low, first.close, first.volume),
        TradePlanned(first.at, 1, 1, 1, Side.buy, OrderType.market, Decimal("10"), None, "te-bench-1"),
        OrderSubmitted(first.at, 1, "sim-1"),
        FillReceived(first.at, 1, Decimal("10"), first.close, Decimal("300"), "USDT", "sim-fill-1"),
        CycleCompleted(first.at, 1),
    ]
    batches = [
        [
            MarketObserved(c.at, 1, c.open, c.high, c.low, c.close, c.volume),
            CycleCompleted(c.at, cycle),
        ]
        for cycle, c in enumerate(candles[1 : cycles + 1], start=2)
    ]
    timings: list[float] = []
    append = timings.append
    clock = time.perf_counter_ns
    store = StateStore(folder / "bookkeeping", "bench", fsync_each_batch=False).open()
    try:
        store.record(setup)
        assert len(store.state.portfolio.open_positions) == 1
        record = store.record
        with gc_paused():
            for batch in batches:
                started = clock()
                record(batch)
                append((clock() - started) / 1000)
        assert store.state.cycle == len(batches) + 1
    finally:
        store.close(snapshot=False)
    return timings


def write_csv(candles: list[Candle], path: Path) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write("Date,Open,High,Low,Close,Volume\n")
        for c in candles:
            handle.write(f"{c.at:%Y-%m-%dT%H:%M:%SZ},{c.open},{c.high},{c.low},{c.close},{c.volume}\n")


def memory_child(engine: str, csv_path: Path) -> int:
    """One engine's backtest of the CSV file in this (fresh) process; prints its peak RSS in MiB."""
    def rss() -> float:
        """This process's peak RSS in MiB: VmHWM (ru_maxrss would carry the parent's peak across
        fork and exec)."""
        with open("/proc/self/status", encoding="ascii") as status:
            return int(status.read().split("VmHWM:")[1].split()[0]) / 1024

    if engine == "ours":
        print(f"baseline_rss_mb: {rss():.1f}")
        folder = Path(tempfile.mkdtemp(prefix="mem-ours-"))
        try:
            config = SessionConfig(
                mode="backtest", strategy="sma_crossover", data=csv_path, state_dir=folder,
                initial_cash=Decimal(CASH), fee=Decimal(FEE),
            )  # fmt: skip
            result = run_session(config)
            print(f"cycles: {result.outcome.cycles_run}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        import pandas as pd
        from backtesting import Backtest  # noqa: F401  (imported before the baseline, as ours imports its engine)

        print(f"baseline_rss_mb: {rss():.1f}")
        frame = pd.read_csv(csv_path, index_col="Date", parse_dates=True)
        frame.index = frame.index.tz_localize(None)
        frame.columns = ["Open", "High", "Low", "Close", "Volume"]
        stats = theirs(frame, 1)[1]
        print(f"cycles: {len(frame)} trades {len(stats._trades)}")
    print(f"peak_rss_mb: {rss():.1f}")
    return 0


def memory_figures(candles: list[Candle], folder: Path) -> None:
    import subprocess

    csv_path = folder / "candles.csv"
    write_csv(candles, csv_path)
    print(f"memory_candles: {len(candles)}")
    for engine, name in (("ours", "ours"), ("theirs", "backtesting_py")):
        result = subprocess.run(
            [sys.executable, __file__, "--memory-child", engine, str(csv_path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
        print(f"{name}_baseline_rss_mb: {figures['baseline_rss_mb']}")
        print(f"{name}_peak_rss_mb: {figures['peak_rss_mb']}")
        sys.stdout.flush()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 candles, for a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is reported")
    parser.add_argument("--memory-candles", type=int, help="candles of the memory figures (default 1,000,000)")
    parser.add_argument("--only-memory", action="store_true", help="print only the memory figures")
    parser.add_argument("--memory-child", nargs=2, metavar=("ENGINE", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child[0], Path(args.memory_child[1]))
    memory_count = args.memory_candles or (100_000 if args.quick else 1_000_000)
    if args.only_memory:
        folder = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
        try:
            memory_figures(generate_candles(memory_count, START, INTERVAL), folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return 0
    count = 10_000 if args.quick else 100_000
    cycles = 2_000 if args.quick else 20_000
    candles = generate_candles(count, START, INTERVAL)
    frame = candles_frame(candles)
    folder = Path(tempfile.mkdtemp(prefix="bench-backtest-"))
    try:
        print(f"candles: {len(candles)}")
        ours_s, result = ours(candles, folder, args.repeat)
        state = result.outcome.state
        assert result.outcome.crash is None and result.outcome.cycles_run == len(candles)
        theirs_s, stats = theirs(frame, args.repeat)
        print(f"ours_s: {ours_s:.3f}")
        print(f"backtesting_py_s: {theirs_s:.3f}")
        print(f"ratio: {ours_s / theirs_s:.2f}")
        print(f"trades: {len(state.portfolio.closed_positions)}")
        print(f"backtesting_py_trades: {len(stats._trades)}")
        print(f"events_written: {state.last_event_seq}")
        print(f"log_bytes: {result.paths.log.stat().st_size}")
        print(f"snapshot_bytes: {result.paths.snapshot.stat().st_size}")
        sys.stdout.flush()

        timings = cycle_bookkeeping(candles, folder, min(cycles, len(candles) - 1))
        print(f"cycle_bookkeeping_cycles: {len(timings)}")
        print(f"cycle_bookkeeping_median_us: {statistics.median(timings):.1f}")
        print(f"cycle_bookkeeping_p99_us: {percentile(timings, 0.99):.1f}")
        sys.stdout.flush()
        del result, state, stats, frame, timings
        memory_figures(candles if memory_count == len(candles) else generate_candles(memory_count, START, INTERVAL), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
