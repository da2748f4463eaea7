"""Commands on an existing state: --fresh against a running executor, show, replay after a kill."""

from __future__ import annotations

import hashlib
from pathlib import Path

from clirun import error_line, invoke
from freezegun import freeze_time

from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.paths import StatePaths


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fresh_against_a_running_executor_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert invoke("backtest", "--state-dir", str(state), "--max-cycles", "20").exit_code == 0
    before = digests(state)
    lock = WriterLock(StatePaths(state, "default").lock)
    lock.acquire()  # the running executor
    try:
        for command in ("start", "backtest"):
            result = invoke(command, "--state-dir", str(state), "--fresh", "--max-cycles", "5")
            assert result.exit_code == 2
            assert error_line(result) == (
                f"error: another trade-executor process is writing this state (lock {state}/default.lock is held); "
                "stop it first, or use a different --id or --state-dir"
            )
    finally:
        lock.release()
    assert digests(state) == before
    assert not list(state.glob("default.backup-*"))


def test_two_fresh_runs_in_the_same_second_get_separate_backups(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert invoke("backtest", "--state-dir", str(state), "--max-cycles", "5").exit_code == 0
    with freeze_time("2026-12-01 23:30:00"):  # all three in the same second
        for _ in range(3):
            result = invoke("backtest", "--state-dir", str(state), "--max-cycles", "5", "--fresh")
            assert result.exit_code == 0, result.stderr
    backups = sorted(state.glob("default.backup-*"))
    assert [b.name for b in backups] == [
        "default.backup-20261201T233000Z",
        "default.backup-20261201T233000Z-2",
        "default.backup-20261201T233000Z-3",
    ]
    for backup in backups:
        assert (backup / "default.events.jsonl").exists()


def test_show_lists_recent_trades_in_time_order_ending_with_the_newest(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert invoke("backtest", "--state-dir", str(state)).exit_code == 0
    shown = invoke("show", "--state-dir", str(state), "--trades", "3")
    assert shown.exit_code == 0
    lines = shown.stdout.split("Recent trades (last 3 of 111)\n", 1)[1].splitlines()
    ids = [int(line.split()[0]) for line in lines[2:5]]
    assert ids == [109, 110, 111]  # 111 is the open position's buy: the newest trade
    planned = [line[-19:] for line in lines[2:5]]
    assert planned == sorted(planned)
    assert "(last 0 of 111)" in invoke("show", "--state-dir", str(state), "--trades", "0").stdout


def test_replay_with_a_log_but_no_snapshot_rebuilds_and_succeeds(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert invoke("backtest", "--state-dir", str(state), "--max-cycles", "40").exit_code == 0
    (state / "default.json").unlink()  # killed before the first snapshot
    result = invoke("replay", "--state-dir", str(state))
    assert result.exit_code == 0
    first, second = result.stdout.splitlines()
    assert first.startswith("no snapshot: rebuilt ") and first.endswith(f" events from the log {state}/default.events.jsonl")
    assert second.startswith("replay   sha256 ")
    assert "MISMATCH" not in result.stdout
