"""Commands on an existing state: --fresh against a running executor, show, replay after a kill."""

from __future__ import annotations

import hashlib
from decimal import Decimal
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
    first, second, third = result.stdout.splitlines()
    assert first.startswith("no snapshot: rebuilt ") and first.endswith(f" events from the log {state}/default.events.jsonl")
    assert second.startswith("replay   sha256 ")
    assert third == f"match: the equity file {state}/default.equity.jsonl holds the 40 points of the curve rebuilt from the log"
    assert "MISMATCH" not in result.stdout


def test_show_reads_the_snapshot_and_the_log_after_it_not_the_whole_log(tmp_path: Path) -> None:
    """A summary must not cost the whole history: `show` reads the snapshot, checked in O(1)
    against the log's chain value at its seq as start-up checks it, not the log before it."""
    state = tmp_path / "state"
    assert invoke("backtest", "--state-dir", str(state), "--max-cycles", "40").exit_code == 0
    log = state / "default.events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    # A flipped byte in the prefix the snapshot covers: replay refuses it, show never reads it.
    damaged = lines[3].replace(b'"seq":4', b'"seq":4 ')
    log.write_bytes(b"".join([*lines[:3], damaged, *lines[4:]]))
    shown = invoke("show", "--state-dir", str(state))
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith("executor default ") and " cycle 40 " in shown.stdout
    assert shown.stdout.splitlines()[-1] == (
        f"read from the snapshot {state}/default.json at event {len(lines)}, checked against the log's chain there"
    )
    assert invoke("replay", "--state-dir", str(state)).exit_code == 2


def test_show_applies_the_events_after_the_snapshot(tmp_path: Path) -> None:
    from tradeexecutor.store.state_store import StateStore
    from tradeexecutor.testing.scenario import Scenario

    state = tmp_path / "state"
    scenario = Scenario(executor_id="default")
    with StateStore(state, "default") as store:
        store.record(scenario.setup())
    store = StateStore(state, "default").open()
    store.record(scenario.cycle_end(Decimal(100)))
    store.close(snapshot=False)  # killed: the log is two events ahead of the snapshot
    shown = invoke("show", "--state-dir", str(state))
    assert shown.exit_code == 0, shown.stderr
    assert " cycle 1 " in shown.stdout.splitlines()[0]
    assert shown.stdout.splitlines()[-1] == f"loaded from the snapshot {state}/default.json and the log after it (8 events)"


def test_show_keeps_only_the_newest_closed_positions_and_prints_what_the_whole_state_prints(tmp_path: Path) -> None:
    """`show` reads the closed positions one at a time and keeps only those it lists: its tables
    are those of the whole state, counts included."""
    from tradeexecutor.cli.show import read_for_show, render_state
    from tradeexecutor.state.trade import Side
    from tradeexecutor.store.state_store import StateStore, load_state
    from tradeexecutor.testing.scenario import Scenario

    scenario = Scenario(executor_id="default")
    with StateStore(tmp_path, "default") as store:
        store.record([*scenario.setup(), *scenario.closed_positions(300)])
        store.record(scenario.trade(Side.buy, Decimal("0.5"), Decimal("30000")))
    paths = StatePaths(tmp_path, "default")
    whole = load_state(paths)
    for trades, closed in [(10, 10), (3, 25), (0, 0), (700, 1)]:
        state, source, totals = read_for_show(paths, trades=trades, closed=closed)
        assert totals == (300, 601) and source.endswith("checked against the log's chain there")
        assert len(state.portfolio.closed_positions) <= closed + trades
        shown = render_state(state, trades, closed, *totals)
        assert shown == render_state(whole, trades, closed)
