"""Benchmark of a live cycle against the fake exchange on loopback, through real ccxt over HTTP.

Run: `python bench/live_cycle.py` (add `--quick` for a smoke run of a few cycles). Prints one
`name: value` line per figure; nothing passes or fails on time.

What is measured:
* A live session (`run_session(SessionConfig(mode="live", ...))`, the path `trade-executor start
  --mode live` runs) trades a strategy that buys and closes every cycle, with a limit buy every
  fifth cycle, against a `FakeExchange` serving from a thread of this process on 127.0.0.1. The
  exchange moves one candle after every cycle; the session's clock is the exchange's candle time.
* `cycle_executor_p50_ms` / `cycle_executor_p99_ms`: the executor's own time per cycle - deciding,
  appending to the log with fsync, bookkeeping, ccxt's request building and response parsing -
  i.e. the wall time from the end of one cycle to the end of the next, minus the time spent inside
  ccxt's HTTP call (`Exchange.fetch`, wrapped for the run) during that cycle. The first cycle
  (start-up, recovery) is left out; the bench's own work between cycles (moving the exchange) is
  outside the interval.
* `exchange_roundtrip_p50_ms`: the time of one `Exchange.fetch` call (request to answer on
  loopback, including the fake exchange's own work).
* `apply_p99_ms` (and `apply_p50_ms`): the time of `apply` of one event by the store, wrapped for
  the run, over every event the run recorded.
* `cycles`, `events`, `exchange_calls_per_cycle`, `cycle_total_p50_ms` for context.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import ccxt

from tradeexecutor.app.session import SessionConfig, run_session
from tradeexecutor.store import state_store
from tradeexecutor.testing.fake_exchange import TEST_API_KEY, TEST_API_SECRET, FakeExchange, wave_candles

STRATEGY = '''
"""Bench strategy: buy, close, buy... every cycle; a limit buy (filled on the next candle) every fifth."""

from decimal import Decimal

from tradeexecutor.strategy.intents import close_position, limit_buy, market_buy

PARAMETERS = {"value": Decimal("50"), "min_quantity": Decimal("0.00001")}


def decide(cycle):
    if cycle.pending_trades():
        return []
    position = cycle.position
    if position is not None and position.quantity >= cycle.parameters["min_quantity"]:
        return [close_position()]
    value = cycle.parameters["value"]
    if cycle.cycle % 5 == 0:
        return [limit_buy((cycle.last_price * Decimal("0.999")).quantize(Decimal("0.01")), value=value)]
    return [market_buy(value=value)]
'''


@contextmanager
def wrapped(
    owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """Replace `owner.name` by `make(original)` for the duration of the block."""
    original = getattr(owner, name)
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(cycles: int) -> dict[str, str]:
    fetch_times: list[float] = []
    apply_times: list[float] = []
    cycle_ends: list[float] = []  # perf_counter when each cycle's progress call began
    resumed: list[float] = []  # perf_counter when the bench's work after each cycle ended
    fetch_in_cycle: list[float] = []  # exchange time during each cycle
    fetch_total = [0.0]

    def timed_fetch(original: Callable[..., Any]) -> Callable[..., Any]:
        def fetch(self: ccxt.Exchange, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                fetch_times.append(elapsed)
                fetch_total[0] += elapsed

        return fetch

    def timed_apply(original: Callable[..., Any]) -> Callable[..., Any]:
        def apply(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                apply_times.append(time.perf_counter() - started)

        return apply

    exchange = FakeExchange(wave_candles(cycles + 50), balances={"USDT": "100000"})
    exchange.start()

    def clock() -> datetime:
        with exchange.engine.lock:
            return exchange.engine.markets()[0].candle.at

    def progress(done: int, _total: int) -> None:
        cycle_ends.append(time.perf_counter())
        fetch_in_cycle.append(fetch_total[0])
        fetch_total[0] = 0.0
        exchange.advance()
        resumed.append(time.perf_counter())

    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-live-") as folder,
            wrapped(ccxt.Exchange, "fetch", timed_fetch),
            wrapped(state_store, "apply", timed_apply),
        ):
            strategy = Path(folder) / "bench_strategy.py"
            strategy.write_text(STRATEGY)
            config = SessionConfig(
                mode="live",
                strategy=str(strategy),
                state_dir=Path(folder) / "state",
                executor_id="bench",
                exchange_url=exchange.url,
                api_key=TEST_API_KEY,
                api_secret=TEST_API_SECRET,
                max_cycles=cycles,
                cycle_duration=0.0,
                reconcile_every=10,
                clock=clock,
            )
            result = run_session(config, progress=progress)
            events = result.outcome.state.last_event_seq
    finally:
        exchange.stop()
    if result.outcome.crash is not None:
        raise SystemExit(f"the session crashed: {result.outcome.crash.error}")

    totals = [cycle_ends[i] - resumed[i - 1] for i in range(1, len(cycle_ends))]
    executor = [total - fetch_in_cycle[i] for i, total in enumerate(totals, start=1)]
    calls = len(fetch_times)
    ms = 1000.0
    return {
        "cycles": str(result.outcome.cycles_run),
        "events": str(events),
        "cycle_executor_p50_ms": f"{statistics.median(executor) * ms:.3f}",
        "cycle_executor_p99_ms": f"{percentile(executor, 0.99) * ms:.3f}",
        "cycle_total_p50_ms": f"{statistics.median(totals) * ms:.3f}",
        "exchange_roundtrip_p50_ms": f"{statistics.median(fetch_times) * ms:.3f}",
        "exchange_calls_per_cycle": f"{calls / max(1, result.outcome.cycles_run):.2f}",
        "apply_p50_ms": f"{statistics.median(apply_times) * ms:.4f}",
        "apply_p99_ms": f"{percentile(apply_times, 0.99) * ms:.4f}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few cycles")
    parser.add_argument(
        "--cycles", type=int, default=None, help="number of live cycles (default 400, quick 20)"
    )
    args = parser.parse_args(argv)
    cycles = args.cycles or (20 if args.quick else 400)
    if cycles < 3:
        parser.error("--cycles must be at least 3")
    for name, value in run(cycles).items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
