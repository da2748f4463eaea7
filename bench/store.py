"""Benchmark of the event store: snapshot save/load against dataclasses-json, replay, append, start-up.

Run: `python bench/store.py` (add `--quick` for a smaller run). Prints one `name: value` line per
figure. Nothing here passes or fails on time; the figures go into closing notes and the README.

`save_first_s` is the first save of a state built in memory whose timestamps were never written;
`save_after_load_s` the first save of a state just loaded from its snapshot (a restarted
executor); `save_s` the best of three saves of the same state through one `SnapshotEncoder`, as
a running executor's store saves its snapshot again and again (closed positions and finished
trades keep their encoded bytes). `save_100k_s` and `save_100k_first_s` are the same two for
100,000 closed positions (`save_100k_first_s`: the first save of a store just opened on its log
and sealed snapshot, as after a start; `save_100k_built_first_s`: the first save of the state as
built in memory, everything encoded). Every save is sealed, as the store's are. The dataclasses-json comparison serialises the very same `State` object in the same run, with
dataclasses-json's own `to_json`/`from_json` (its defaults: datetimes as epoch floats, Decimals as
strings). The state's derived trade index is emptied for that run so it serialises each trade once,
as our snapshot does.

`startup_3m_s` is `StateStore.open` (and close, without a snapshot) on a log of 3,000,000 events
whose sealed snapshot is at its end: setup, 1,000 round trips, then market observations, which do
not grow the state, so `startup_ratio_3m_vs_30k` against the same state with a 30,000-event log
measures what the log's length alone costs. `replay_events_per_s` rebuilds a live-like log from
its first line (`load_state(use_snapshot=False)`: every line verified against the chain, decoded
and applied), as `replay` and `start --verify-log` do. The machine is shared: figures carry the
load average at the time (`load_average`).
`save_at_1m_cycles_s` saves the snapshot of a state after 1,000,000 live-like cycles (a valuation
each, one position open throughout); `snapshot_bytes_at_1m_cycles` is its size, next to
`snapshot_bytes_at_1k_cycles`: the curve is in the equity file, so the two differ by a few digits.
`show_peak_rss_mb` is the peak RSS (VmHWM) of a `trade-executor show` process on the state of a
2,000,000-candle backtest-like run (a trade every 20 candles: 50,000 round trips), written through
`StateStore` as a backtest writes it; `--only cycles|show` prints just those figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradeexecutor.state.codec import encode_head
from tradeexecutor.state.events import Event, MarketObserved
from tradeexecutor.state.reducer import apply, fold
from tradeexecutor.state.state import State
from tradeexecutor.store.eventlog import GENESIS, LogMark, chain_of, encode_lines, seal
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state, load_snapshot, save_snapshot
from tradeexecutor.store.snapshot_encoder import SnapshotEncoder
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of `repeat` runs (a full collection first, so earlier garbage does not count)."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def big_state(round_trips: int) -> State:
    scenario = Scenario(realistic_ids=True)
    return fold([*scenario.setup(), *scenario.closed_positions(round_trips)])


def dataclasses_json_figures(state: State, folder: Path) -> tuple[float, float]:
    """Save and load the same state with dataclasses-json; restores our own methods afterwards."""
    from dataclasses_json import dataclass_json

    from tradeexecutor.state import balance, identifiers, portfolio, position, trade, uptime, valuation
    from tradeexecutor.state import state as state_module

    classes = [
        trade.Fill, trade.Trade, position.Position, portfolio.Portfolio, identifiers.Asset,
        identifiers.TradingPair, balance.BalanceUpdate, valuation.ValuationPoint, uptime.Run, uptime.Uptime,
        state_module.State,
    ]  # fmt: skip
    saved = {cls: {name: cls.__dict__[name] for name in ("to_dict", "from_dict") if name in cls.__dict__} for cls in classes}
    index = state.portfolio.trades
    state.portfolio.trades = {}
    path = folder / "dcj.json"
    try:
        for cls in classes:
            dataclass_json(cls)

        def save() -> None:
            data = state.to_json().encode()  # type: ignore[attr-defined]
            with open(path, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())

        save_s, _ = timed(save)
        load_s, loaded = timed(lambda: state_module.State.from_json(path.read_bytes()))  # type: ignore[attr-defined]
        assert len(loaded.portfolio.closed_positions) == len(state.portfolio.closed_positions)
    finally:
        state.portfolio.trades = index
        for cls, methods in saved.items():
            for name in ("to_json", "from_json", "to_dict", "from_dict", "schema"):
                if name in cls.__dict__ and name not in methods:
                    delattr(cls, name)
            for name, method in methods.items():
                setattr(cls, name, method)
    return save_s, load_s


def mark_of(state: State) -> LogMark:
    """A log mark at the state's last event, so that saves are sealed as the store's are."""
    return LogMark(state.last_event_seq, bytes(range(8)), 0, 0)


def save_100k_figures(folder: Path, round_trips: int) -> None:
    """Repeated saves of `round_trips` closed positions, and the first save of a store just
    opened on them (as after a start: the log and its sealed snapshot on disk)."""
    paths = StatePaths(folder, "save100k")
    state = padded_state(paths, round_trips, 0)
    encoder = SnapshotEncoder()
    mark = mark_of(state)
    path = folder / "big.json"
    build_s, size = timed(lambda: save_snapshot(path, state, mark, encoder))
    repeat_s, _ = timed(lambda: save_snapshot(path, state, mark, encoder), repeat=3)
    assert unseal(path.read_bytes())[0] == dump_state(state)
    store = StateStore(folder, "save100k").open()
    try:
        first_s, _ = timed(store.save_snapshot)
        assert unseal(paths.snapshot.read_bytes())[0] == dump_state(store.state)
        print(f"save_100k_positions: {len(store.state.portfolio.closed_positions)}")
    finally:
        store.close(snapshot=False)
    print(f"save_100k_bytes: {size}")
    print(f"save_100k_built_first_s: {build_s:.3f}")
    print(f"save_100k_first_s: {first_s:.3f}")
    print(f"save_100k_s: {repeat_s:.3f}")


def write_log(path: Path, events: Iterator[Event]) -> int:
    count, chain = 0, GENESIS
    with open(path, "wb", buffering=1 << 20) as handle:
        for count, event in enumerate(events, start=1):
            line, chain = seal(encode_head(count, event), chain)
            handle.write(line)
    return count


def padded_state(paths: StatePaths, round_trips: int, total: int) -> State:
    """Write a log of `total` events (setup, `round_trips` closed positions, then one market
    observation repeated, which leaves the state's size as it is) and its sealed snapshot at the
    end. Lines are built from the encoder's bytes with only the seq changed: a few seconds a million."""
    scenario = Scenario(realistic_ids=True)
    state = State()
    chain, offset, line_offset, seq = GENESIS, 0, 0, 0
    with open(paths.log, "wb", buffering=1 << 20) as handle:
        for event in [*scenario.setup(), *scenario.closed_positions(round_trips)]:
            seq += 1
            line, chain = seal(encode_head(seq, event), chain)
            apply(state, event, seq)
            handle.write(line)
            line_offset, offset = offset, offset + len(line)
        observed = scenario.cycle_end(Decimal("30000.5"))[0]
        assert isinstance(observed, MarketObserved)
        after_seq = encode_head(1, observed)[len(b'{"seq":1') :]
        while seq < total:
            seq += 1
            line, chain = seal(b'{"seq":%d%s' % (seq, after_seq), chain)
            apply(state, observed, seq)
            handle.write(line)
            line_offset, offset = offset, offset + len(line)
    save_snapshot(paths.snapshot, state, LogMark(seq, chain, line_offset, offset))
    return state


def startup_figures(folder: Path, scale: int) -> None:
    """Start-up against logs of two lengths with the same state (a sealed snapshot at the end)."""
    times = {}
    for name, total in (("3m", 3_000_000 // scale), ("30k", 30_000 // scale)):
        paths = StatePaths(folder, f"startup-{name}")
        made_s, state = timed(lambda paths=paths, total=total: padded_state(paths, 1_000 // scale, total))
        assert state.last_event_seq == total

        def start(paths: StatePaths = paths) -> State:
            store = StateStore(paths.state_dir, paths.executor_id).open()
            store.close(snapshot=False)
            return store.state

        times[name], started = timed(start, repeat=5)
        assert started.last_event_seq == total
        print(f"startup_{name}_events: {total}")
        print(f"startup_{name}_log_bytes: {paths.log.stat().st_size}")
        print(f"startup_{name}_snapshot_bytes: {paths.snapshot.stat().st_size}")
        print(f"startup_{name}_written_s: {made_s:.1f}")
        print(f"startup_{name}_s: {times[name]:.4f}")
        sys.stdout.flush()
        if name == "3m":
            paths.log.unlink()  # hundreds of MB
    print(f"startup_ratio_3m_vs_30k: {times['3m'] / times['30k']:.2f}")


def replay_figures(folder: Path, replay_events: int) -> None:
    """Replay: a live-like log (a valuation and a cycle every cycle, a trade every 20 cycles)."""
    paths = StatePaths(folder, "replay")
    scenario = Scenario(realistic_ids=True)
    per_cycle = 2 + 3 / 20
    cycles = int((replay_events - 6) / per_cycle)
    count = write_log(paths.log, iter([*scenario.setup(), *scenario.cycles(cycles)]))
    replay_s, replayed = timed(lambda: load_state(paths, use_snapshot=False), repeat=2)
    assert replayed.last_event_seq == count
    print(f"replay_events: {count}")
    print(f"replay_s: {replay_s:.3f}")
    print(f"replay_events_per_s: {count / replay_s:.0f}")
    sys.stdout.flush()

def state_after_cycles(cycles: int) -> State:
    """A live-like state after `cycles` cycles, one open position marked at every cycle (the
    case where the old snapshot grew by one valuation point a cycle)."""
    scenario = Scenario(realistic_ids=True)
    return fold(iter([*scenario.setup(), *scenario.cycles(cycles, trade_every=10**12)]))


def cycles_figures(cycles: int) -> None:
    """`save_at_1m_cycles_s` and the snapshot's size after 1,000 and after `cycles` cycles."""
    folder = Path(tempfile.mkdtemp(prefix="bench-cycles-"))
    try:
        small = state_after_cycles(1_000)
        print(f"snapshot_bytes_at_1k_cycles: {save_snapshot(folder / 'small.json', small)}")
        state = state_after_cycles(cycles)
        assert state.equity.points == cycles
        save_s, size = timed(lambda: save_snapshot(folder / "big.json", state), repeat=3)
        print(f"cycles: {cycles}")
        print(f"save_at_1m_cycles_s: {save_s:.4f}")
        print(f"snapshot_bytes_at_1m_cycles: {size}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


#: Runs `trade-executor show` in this interpreter and reports its own peak RSS (KiB, VmHWM) on
#: stderr's last line. Not `ru_maxrss`: Linux carries the parent's high-water mark across fork and
#: exec into the child's, so the child would report this benchmark's own peak.
_SHOW_CHILD = (
    "import sys\n"
    "from tradeexecutor.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "status = open('/proc/self/status').read()\n"
    "print(status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def show_figures(candles: int) -> None:
    """`show_peak_rss_mb`: peak RSS of `trade-executor show` on the state of a `candles`-candle
    backtest-like run (a market observation and a completed cycle per candle, a trade every 20
    candles), written through `StateStore` as a backtest writes it: log, equity file, snapshot."""
    import subprocess

    folder = Path(tempfile.mkdtemp(prefix="bench-show-"))
    try:
        scenario = Scenario(realistic_ids=True)
        store = StateStore(folder, "show", fsync_each_batch=False).open()
        batch: list[Event] = []
        started = time.perf_counter()
        for event in [*scenario.setup()]:
            batch.append(event)
        with_cycles = scenario.cycles(candles)
        for event in with_cycles:
            batch.append(event)
            if len(batch) >= 10_000:
                store.record(batch)
                batch = []
        store.record(batch)
        store.close()
        build_s = time.perf_counter() - started
        paths = store.paths
        print(f"show_candles: {candles}")
        print(f"show_state_events: {store.state.last_event_seq}")
        print(f"show_state_build_s: {build_s:.1f}")
        print(f"show_log_bytes: {paths.log.stat().st_size}")
        print(f"show_equity_bytes: {paths.equity.stat().st_size}")
        print(f"show_snapshot_bytes: {paths.snapshot.stat().st_size}")
        del store
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _SHOW_CHILD, "show", "--state-dir", str(folder), "--id", "show"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        show_s = time.perf_counter() - started
        peak_kib = int(result.stderr.strip().splitlines()[-1])
        assert "checked against the log's chain there" in result.stdout, result.stdout
        print(f"show_s: {show_s:.2f}")
        print(f"show_peak_rss_mb: {peak_kib / 1024:.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes, for a smoke run")
    parser.add_argument("--skip-dcj", action="store_true", help="skip the slow dataclasses-json comparison")
    parser.add_argument("--only-chain", action="store_true", help="only the replay and start-up figures")
    parser.add_argument("--only", choices=["cycles", "show"], help="print only these figures")
    parser.add_argument("--show-candles", type=int, help="candles of the state `show` reads (default 2,000,000)")
    parser.add_argument("--skip-100k", action="store_true", help="skip the 100,000-position save figures")
    args = parser.parse_args()
    if args.only == "cycles":
        cycles_figures(100_000 if args.quick else 1_000_000)
        return 0
    if args.only == "show":
        show_figures(args.show_candles or (200_000 if args.quick else 2_000_000))
        return 0
    scale = 10 if args.quick else 1
    round_trips = 10_000 // scale
    replay_events = 1_000_000 // scale
    folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
    print(f"load_average: {os.getloadavg()[0]:.2f}")
    try:
        if args.only_chain:
            replay_figures(folder, replay_events)
            startup_figures(folder, scale)
            return 0
        state = big_state(round_trips)
        trades = len(state.portfolio.trades)
        print(f"closed_positions: {len(state.portfolio.closed_positions)}")
        print(f"trades: {trades}")

        snapshot = folder / "s.json"
        mark = mark_of(state)
        save_first_s, size = timed(lambda: save_snapshot(snapshot, state, mark))  # nothing memoised yet
        # What a restarted executor does: load the snapshot, then save it again after its first cycle.
        reloaded = load_snapshot(snapshot)
        assert reloaded is not None
        save_after_load_s, _ = timed(lambda: save_snapshot(folder / "s2.json", reloaded, mark))
        encoder = SnapshotEncoder()  # what a store keeps between its saves
        save_snapshot(snapshot, state, mark, encoder)
        save_s, size = timed(lambda: save_snapshot(snapshot, state, mark, encoder), repeat=3)  # as a store saves
        assert unseal(snapshot.read_bytes())[0] == dump_state(state)
        load_s, loaded = timed(lambda: load_snapshot(snapshot), repeat=3)
        assert loaded is not None and loaded.total_equity() == state.total_equity()
        print(f"save_first_s: {save_first_s:.3f}")
        print(f"save_after_load_s: {save_after_load_s:.3f}")
        print(f"save_s: {save_s:.3f}")
        print(f"load_s: {load_s:.3f}")
        print(f"snapshot_bytes: {size}")
        print(f"bytes_per_trade: {size / trades:.1f}")
        if not args.skip_dcj:
            dcj_save_s, dcj_load_s = dataclasses_json_figures(state, folder)
            print(f"dcj_save_s: {dcj_save_s:.3f}")
            print(f"dcj_load_s: {dcj_load_s:.3f}")
            print(f"save_speedup: {dcj_save_s / save_s:.1f}")
            print(f"save_first_speedup: {dcj_save_s / save_first_s:.1f}")
            print(f"save_after_load_speedup: {dcj_save_s / save_after_load_s:.1f}")
            print(f"load_speedup: {dcj_load_s / load_s:.1f}")
        sys.stdout.flush()
        if not args.skip_100k:
            save_100k_figures(folder, 100_000 // scale)
            sys.stdout.flush()

        replay_figures(folder, replay_events)
        per_cycle = 2 + 3 / 20

        # Append: batches of 100 events, one write and one fsync per batch, through StateStore.record.
        scenario = Scenario(realistic_ids=True)
        events = [*scenario.setup(), *scenario.cycles(200_000 // scale)]
        batches = [events[i : i + 100] for i in range(0, len(events), 100)]
        with StateStore(folder, "append") as store:
            append_s, _ = timed(lambda: [store.record(batch) for batch in batches])
        print(f"append_events: {len(events)}")
        print(f"append_events_per_s: {len(events) / append_s:.0f}")
        sys.stdout.flush()

        # Start-up: the big state's snapshot plus a 10,000-event tail in the log.
        scenario = Scenario(realistic_ids=True)
        base = [*scenario.setup(), *scenario.closed_positions(round_trips)]
        tail = list(scenario.cycles(5_000))[: 10_000 // scale]
        start_paths = StatePaths(folder, "startup")
        write_log(start_paths.log, iter(base))
        base_log = start_paths.log.read_bytes()
        mark = LogMark(len(base), chain_of(base_log), base_log.rstrip(b"\n").rfind(b"\n") + 1, len(base_log))
        save_snapshot(start_paths.snapshot, fold(base), mark)
        with open(start_paths.log, "ab") as handle:
            handle.write(encode_lines(tail, len(base) + 1, mark.chain))

        def start(executor_id: str = "startup") -> State:
            store = StateStore(folder, executor_id).open()
            store.close(snapshot=False)
            return store.state

        startup_s, started = timed(start, repeat=3)
        assert started.last_event_seq == len(base) + len(tail)
        print(f"startup_tail_events: {len(tail)}")
        print(f"startup_s: {startup_s:.3f}")

        # Start-up on a 100,000-event live-like log whose snapshot is at its end (a clean stop).
        scenario = Scenario(realistic_ids=True)
        events = [*scenario.setup(), *scenario.cycles(int((100_000 // scale - 6) / per_cycle))]
        log_paths = StatePaths(folder, "startup-log")
        write_log(log_paths.log, iter(events))
        log_data = log_paths.log.read_bytes()
        end = LogMark(len(events), chain_of(log_data), log_data.rstrip(b"\n").rfind(b"\n") + 1, len(log_data))
        save_snapshot(log_paths.snapshot, fold(events), end)
        startup_log_s, started = timed(lambda: start("startup-log"), repeat=3)
        assert started.last_event_seq == len(events)
        print(f"startup_log_events: {len(events)}")
        print(f"startup_log_s: {startup_log_s:.3f}")
        sys.stdout.flush()
        startup_figures(folder, scale)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    cycles_figures(1_000_000 // scale)
    sys.stdout.flush()
    show_figures(args.show_candles or 2_000_000 // scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
