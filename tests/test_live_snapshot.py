"""The snapshot of a running paper executor follows its fills: a real `trade-executor start`
subprocess, whose `state/ID.json` the test reads while it runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tradeexecutor.store.paths import StatePaths

_SCRIPT = Path(sys.executable).parent / "trade-executor"
EXECUTABLE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tradeexecutor.cli.main"]

STRATEGY = '''
from decimal import Decimal

from tradeexecutor.strategy.intents import close_position, market_buy


def decide(cycle):
    if cycle.pending_trades():
        return []
    if cycle.position is not None and cycle.position.quantity >= Decimal("0.00001"):
        return [close_position()]
    return [market_buy(value=Decimal("100"))]
'''


def read_log(path: Path) -> list[dict[str, Any]]:
    """The whole records of the log as it is now (a line being written is left out)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in data.split(b"\n")[:-1]:
        records.append(orjson.loads(line))
    return records


def snapshot_seq(path: Path) -> int | None:
    try:
        return int(orjson.loads(path.read_bytes())["last_event_seq"])
    except FileNotFoundError:
        return None


def test_the_snapshot_of_a_paper_run_is_never_a_cycle_behind_a_fill_and_sigterm_leaves_it_at_the_end(
    tmp_path: Path,
) -> None:
    strategy = tmp_path / "flip.py"
    strategy.write_text(STRATEGY)
    paths = StatePaths(tmp_path / "state", "snap")
    process = subprocess.Popen(
        [*EXECUTABLE, "start", "--strategy", str(strategy), "--state-dir", str(paths.state_dir), "--id", "snap",
         "--cycle-duration", "0.2", "--no-progress"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    checked_fills: set[int] = set()
    seen_snapshots: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(checked_fills) < 6 and time.monotonic() < deadline and process.poll() is None:
            before = read_log(paths.log)
            seq = snapshot_seq(paths.snapshot)
            after = read_log(paths.log)
            if seq is not None:
                seen_snapshots.add(seq)
                assert seq <= len(after), "the snapshot is ahead of the log"
            completed = [r["seq"] for r in before if r["type"] == "cycle_completed"]
            for fill in (r["seq"] for r in before if r["type"] == "fill_received"):
                # The cycle of the fill completes at the first cycle_completed after it; once the
                # next cycle has completed too, the snapshot must have reached the fill.
                later = [c for c in completed if c > fill]
                if len(later) >= 2:
                    assert seq is not None and seq >= fill, (
                        f"the snapshot is at seq {seq}, more than one cycle behind the fill at seq {fill}"
                    )
                    checked_fills.add(fill)
            time.sleep(0.02)
        assert process.poll() is None, process.communicate()
        assert len(checked_fills) >= 6
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, stderr
    # Snapshots were saved while it ran (not only one at the end).
    assert len(seen_snapshots) >= 3
    records = read_log(paths.log)
    assert snapshot_seq(paths.snapshot) == len(records) == records[-1]["seq"]
    # And it is the log's state.
    replay = subprocess.run(
        [*EXECUTABLE, "replay", "--state-dir", str(paths.state_dir), "--id", "snap"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "match: the snapshot equals the state rebuilt from the log" in replay.stdout, replay.stdout + replay.stderr
    assert "note: the log holds" not in replay.stdout
