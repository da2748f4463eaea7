"""`trade-executor repair`: damaged logs are backed up and cut at the last good record, stuck trades
and frozen positions are settled with compensating events, and nothing happens unasked."""

from __future__ import annotations

import errno
import hashlib
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from freezegun import freeze_time

from tradeexecutor.cli.main import main
from tradeexecutor.repair.log import RepairError, apply_log_repair, plan_log_repair
from tradeexecutor.repair.run import RepairOptions, run_repair
from tradeexecutor.repair.stuck import OrphanOrder, plan_state_repair
from tradeexecutor.state.events import (
    Event,
    FillReceived,
    OrderFailed,
    OrderSubmitted,
    PositionFrozen,
    TradePlanned,
)
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import OrderType, Side, Trade, TradeStatus
from tradeexecutor.store.eventlog import EventLog, chain_of, encode_line
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario

ID = "t"


def cli(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeexecutor.cli.main", *args, "--state-dir", str(folder), "--id", ID],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def file_digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{ID}.backup-*"))


def write_state(folder: Path, round_trips: int = 3) -> StatePaths:
    """A healthy log of one event a line and a snapshot at its last event."""
    scenario = Scenario()
    store = StateStore(folder, ID).open()
    store.record(scenario.setup())
    for event in scenario.closed_positions(round_trips):
        store.record([event])
    store.close(snapshot=True)
    return store.paths


def write_stuck_state(folder: Path) -> StatePaths:
    """Position 1 holds 1 BTC and is frozen after its closing sell failed (trade 2); position 2 was
    opened by a limit buy that was submitted and never heard of again (trade 3)."""
    scenario = Scenario()
    store = StateStore(folder, ID).open()
    store.record(scenario.setup())
    store.record(scenario.trade(Side.buy, Decimal("1"), Decimal("100")))
    at = scenario.tick()
    store.record(
        [
            TradePlanned(at, 2, 1, 1, Side.sell, OrderType.market, Decimal("1"), None, "te-2"),
            OrderFailed(at, 2, "timeout"),
            PositionFrozen(at, 1, "closing sell failed"),
            TradePlanned(at, 3, 2, 1, Side.buy, OrderType.limit, Decimal("0.5"), Decimal("90"), "te-3"),
            OrderSubmitted(at, 3, "x3"),
        ]
    )
    store.record(scenario.cycle_end(Decimal("101")))
    store.close(snapshot=True)
    return store.paths


def assert_replay_matches(folder: Path) -> None:
    """`trade-executor replay` (in-process: it only reads) says the snapshot equals the log."""
    assert main(["replay", "--state-dir", str(folder), "--id", ID]) == 0


# --- the log ------------------------------------------------------------------------------------------


def test_plan_names_the_cut_for_every_torn_tail(tmp_path: Path) -> None:
    paths = write_state(tmp_path)
    data = paths.log.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    records = data.count(b"\n")
    for cut in range(last_start + 1, len(data) - 1):
        paths.log.write_bytes(data[:cut])
        plan = plan_log_repair(paths)
        assert plan is not None
        assert (plan.kept_records, plan.kept_bytes, plan.damaged_line) == (records - 1, last_start, records)
        assert plan.dropped_bytes == cut - last_start and not plan.add_newline
        assert not plan.needs_confirmation
        assert plan.summary() == (
            f"keep records 1..{records - 1} (bytes 0..{last_start}), drop {cut - last_start} bytes "
            f"from line {records}: the record is torn: it has no line end (the write was cut short)"
        )
        assert plan.snapshot_problem is not None and "ahead" in plan.snapshot_problem
        assert plan.state.last_event_seq == records - 1


@pytest.mark.parametrize("into_last", [1, 40, -2])
def test_torn_tail_dry_run_changes_nothing_then_repair_backs_up_and_truncates(
    tmp_path: Path, into_last: int
) -> None:
    paths = write_state(tmp_path)
    data = paths.log.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    records = data.count(b"\n")
    cut = last_start + into_last if into_last > 0 else len(data) + into_last
    paths.log.write_bytes(data[:cut])
    snapshot = paths.snapshot.read_bytes()
    before = file_digests(tmp_path)

    dry = cli(tmp_path, "repair", "--dry-run")
    assert dry.returncode == 1, dry.stderr
    assert f"keep records 1..{records - 1} (bytes 0..{last_start}), drop {cut - last_start} bytes" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert file_digests(tmp_path) == before and not backups(tmp_path)

    result = cli(tmp_path, "repair", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "repaired: the state is healthy" in result.stdout
    repaired = paths.log.read_bytes()
    assert repaired.startswith(data[:last_start])
    [backup] = backups(tmp_path)
    assert (backup / paths.log.name).read_bytes() == data[:cut]
    assert (backup / paths.snapshot.name).read_bytes() == snapshot  # ahead of the log: set aside
    # The torn record was the closing fill: its trade is left submitted, and repair closes it.
    added = [orjson.loads(line) for line in repaired[last_start:].splitlines()]
    assert [(r["seq"], r["type"]) for r in added] == [(records, "repair_applied")]
    assert "without exchange confirmation" in added[0]["data"]["note"]
    assert load_state(paths).last_event_seq == records
    assert_replay_matches(tmp_path)


def test_record_missing_only_its_line_end_gets_it_back_and_keeps_the_event(tmp_path: Path) -> None:
    paths = write_state(tmp_path)
    data = paths.log.read_bytes()
    records = data.count(b"\n")
    paths.log.write_bytes(data[:-1])
    plan = plan_log_repair(paths)
    assert plan is not None and plan.add_newline and plan.dropped_bytes == 0
    assert plan.summary().startswith(f"keep records 1..{records} (bytes 0..{len(data)}), add the missing line end")
    assert plan.snapshot_problem is None  # the snapshot agrees with the record that stays

    result = cli(tmp_path, "repair", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    assert paths.log.read_bytes() == data
    assert load_state(paths).last_event_seq == records
    assert_replay_matches(tmp_path)


def test_checksum_damage_in_the_middle_needs_accept_data_loss(tmp_path: Path) -> None:
    """Damage to the pair's registration: the records after it no longer apply, so even the
    salvage (the snapshot at the end covers the damage and stands in for them) drops records
    that pass their checksum, and that is asked for."""
    paths = write_state(tmp_path)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"USDT"', b'"USDX"', 1)
    damaged = b"".join(lines)
    paths.log.write_bytes(damaged)
    snapshot = paths.snapshot.read_bytes()
    plan = plan_log_repair(paths)
    assert plan is not None and plan.needs_confirmation and "checksum mismatch" in (plan.problem or "")
    assert plan.salvage is not None and plan.salvage.snapshot_seq == len(lines)
    assert plan.lost_records == len(lines) - 6  # all but the deposit after the damage
    before = file_digests(tmp_path)

    refused = cli(tmp_path, "repair", "--auto-approve")  # asked even so; end of input is no
    assert refused.returncode == 1, refused.stderr
    assert "DATA LOSS" in refused.stdout and "--accept-data-loss" in refused.stdout
    assert f"DATA LOSS: {len(lines) - 6} record(s) that pass their checksum are dropped" in refused.stdout
    assert file_digests(tmp_path) == before and not backups(tmp_path)

    accepted = cli(tmp_path, "repair", "--auto-approve", "--accept-data-loss")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    kept = paths.log.read_bytes().splitlines(keepends=True)
    assert kept[:4] == lines[:4] and len(kept) == 7
    assert [orjson.loads(line)["type"] for line in kept[4:]] == ["log_repair_applied", "deposit_made", "log_repair_applied"]
    [backup] = backups(tmp_path)
    assert (backup / paths.log.name).read_bytes() == damaged
    assert (backup / paths.snapshot.name).read_bytes() == snapshot
    # The snapshot's state stood in for the dropped records: the money is what it was.
    restored = orjson.loads(paths.snapshot.read_bytes())
    assert restored["portfolio"] == orjson.loads(snapshot)["portfolio"] and restored["last_event_seq"] == 7
    assert_replay_matches(tmp_path)


def test_gap_and_refused_event_are_cut_and_a_clean_log_needs_no_plan(tmp_path: Path) -> None:
    paths = write_state(tmp_path)
    assert plan_log_repair(paths) is None
    data = paths.log.read_bytes()
    lines = data.splitlines(keepends=True)

    paths.log.write_bytes(b"".join(lines[:7] + lines[8:]))
    gap = plan_log_repair(paths)
    assert gap is not None and gap.damaged_line == 8 and "gap in sequence numbers" in (gap.problem or "")
    # The line after the gap cannot be checked against its missing predecessor's chain value, so
    # it counts as damaged: the salvage that the snapshot covers is offered, and needs confirmation.
    assert gap.needs_confirmation and gap.salvage is not None
    assert (gap.truncation or "").startswith("keep records 1..7 (bytes 0..")

    at = datetime(2026, 1, 1, tzinfo=UTC)
    fill = FillReceived(at, 99, Decimal(1), Decimal(1), Decimal(0), "USDT")
    refused = encode_line(len(lines) + 1, fill, chain_of(lines[-1]))
    paths.log.write_bytes(data + refused)
    plan = plan_log_repair(paths)
    assert plan is not None and plan.problem is not None and "does not apply" in plan.problem
    assert plan.kept_records == len(lines) and plan.snapshot_problem is None
    assert plan.needs_confirmation and plan.lost_records == 1  # an intact record is data: asked for
    assert f"line {len(lines) + 1} itself passes its checksum" in "\n".join(plan.describe())
    apply_log_repair(plan)
    assert paths.log.read_bytes() == data and plan_log_repair(paths) is None


def test_unreadable_or_ahead_snapshot_is_set_aside_and_the_log_left_alone(tmp_path: Path) -> None:
    paths = write_state(tmp_path)
    data, snapshot = paths.log.read_bytes(), paths.snapshot.read_bytes()
    paths.snapshot.write_bytes(b'{"schema_version": 1, "trunc')
    plan = plan_log_repair(paths)
    assert plan is not None and not plan.changes_log and "unreadable" in (plan.snapshot_problem or "")
    result = apply_log_repair(plan, clock=lambda: datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert result.backup_dir.name == f"{ID}.backup-20260203T040506Z"
    assert not paths.snapshot.exists() and paths.log.read_bytes() == data
    assert load_state(paths).last_event_seq == data.count(b"\n")

    paths.snapshot.write_bytes(snapshot)
    paths.log.write_bytes(b"".join(data.splitlines(keepends=True)[:-3]))  # cut cleanly at a line end
    ahead = plan_log_repair(paths)
    assert ahead is not None and not ahead.changes_log and "ahead" in (ahead.snapshot_problem or "")
    second = apply_log_repair(ahead, clock=lambda: datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert second.backup_dir.name == f"{ID}.backup-20260203T040506Z-1"  # never reuses a folder
    assert (second.backup_dir / paths.snapshot.name).read_bytes() == snapshot
    assert load_state(paths).last_event_seq == data.count(b"\n") - 3


# --- the state ------------------------------------------------------------------------------------------


def test_stuck_trades_are_closed_offline_with_a_note_and_positions_settle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_stuck_state(tmp_path)
    dry = cli(tmp_path, "repair", "--dry-run")
    assert dry.returncode == 1 and "State: 3 change(s)" in dry.stdout, dry.stdout + dry.stderr

    result = cli(tmp_path, "repair", "--auto-approve")
    assert result.returncode == 0, result.stdout + result.stderr
    state = load_state(paths)
    trades = state.portfolio.trades
    for trade_id, was in ((2, "failed (timeout)"), (3, "submitted")):
        assert trades[trade_id].status is TradeStatus.repaired
        assert trades[trade_id].status_reason == (
            f"closed by repair without exchange confirmation (offline repair); was {was}"
        )
    assert 2 in state.portfolio.closed_positions  # the unfilled opening buy leaves nothing: closed
    assert 1 in state.portfolio.open_positions and not state.portfolio.frozen_positions
    tail = [orjson.loads(line) for line in paths.log.read_bytes().splitlines()[-3:]]
    assert [r["type"] for r in tail] == ["repair_applied", "repair_applied", "position_unfrozen"]
    assert tail[-1]["data"]["note"] == "reconciled by repair"
    assert_replay_matches(tmp_path)

    before = file_digests(tmp_path)
    assert main(["repair", "--state-dir", str(tmp_path), "--id", ID]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert file_digests(tmp_path) == before


def test_answering_no_leaves_the_state_unchanged_and_exits_1(tmp_path: Path) -> None:
    write_stuck_state(tmp_path)
    before = file_digests(tmp_path)
    result = cli(tmp_path, "repair", stdin="n\nn\n")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count("apply? [y/N]") == 2
    assert "position 1 stays frozen: trade 2 is failed" in result.stdout  # not even asked
    assert "NOT fully repaired" in result.stdout
    assert file_digests(tmp_path) == before
    eof = cli(tmp_path, "repair")  # no input at all: no
    assert eof.returncode == 1 and "(no answer: no)" in eof.stdout
    assert file_digests(tmp_path) == before


def test_repair_events_take_their_time_from_the_injected_clock(tmp_path: Path) -> None:
    state = load_state(write_stuck_state(tmp_path))
    at = datetime(2026, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    plan = plan_state_repair(state, clock=lambda: at)
    assert [type(e).__name__ for s in plan.steps for e in s.events] == [
        "RepairApplied",
        "RepairApplied",
        "PositionUnfrozen",
    ]
    assert {e.at for s in plan.steps for e in s.events} == {at}
    with pytest.raises(ValueError, match="the clock gave the naive datetime"):
        plan_state_repair(state, clock=lambda: datetime(2026, 5, 6))


def test_the_command_stamps_repair_events_and_the_backup_with_the_wall_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_stuck_state(tmp_path)
    paths.log.write_bytes(paths.log.read_bytes()[:-1])  # a missing line end: a log repair, so a backup
    with freeze_time("2026-05-06 07:08:09.123456"):
        assert main(["repair", "--state-dir", str(tmp_path), "--id", ID, "--auto-approve"]) == 0
    assert "repaired: the state is healthy" in capsys.readouterr().out
    [backup] = backups(tmp_path)
    assert backup.name == f"{ID}.backup-20260506T070809Z"
    tail = [orjson.loads(line) for line in paths.log.read_bytes().splitlines()[-3:]]
    assert [r["type"] for r in tail] == ["repair_applied", "repair_applied", "position_unfrozen"]
    assert {r["at"] for r in tail} == {"2026-05-06T07:08:09.123Z"}  # at the log's millisecond precision


class FakeResolver:
    """The exchange filled trade 3, never heard of trade 2, and holds one order nobody knows."""

    def __init__(self) -> None:
        self.orphan = OrphanOrder("x-999", None, "BTC/USDT", Side.sell, Decimal("0.2"), Decimal("150"))
        self.cancelled: list[OrphanOrder] = []

    def resolve(self, state: State, trade: Trade) -> list[Event] | None:
        if trade.id == 3:
            at = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
            return [FillReceived(at, 3, Decimal("0.5"), Decimal("89.5"), Decimal("0.05"), "USDT", "ex-fill-3")]
        return None

    def open_orders(self, state: State) -> list[OrphanOrder]:
        return [self.orphan]

    def cancel_orphan(self, order: OrphanOrder) -> None:
        self.cancelled.append(order)


def run_in_process(
    folder: Path, resolver: FakeResolver, answers: str, dry_run: bool = False
) -> tuple[bool, list[str]]:
    """`run_repair` as the command runs it, with the fake exchange and scripted answers."""
    replies = iter(answers.split())
    lines: list[str] = []

    def ask(question: str) -> bool:
        lines.append(question)
        return next(replies, "n") == "y"

    healthy = run_repair(
        StatePaths(folder, ID),
        RepairOptions(dry_run=dry_run),
        ask=ask,
        say=lines.append,
        resolver_factory=lambda: resolver,
        clock=lambda: datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
    )
    return healthy, lines


def test_resolver_fill_settles_a_stuck_trade_and_orphans_are_cancelled_on_yes(tmp_path: Path) -> None:
    paths = write_stuck_state(tmp_path)
    resolver = FakeResolver()
    healthy, lines = run_in_process(tmp_path, resolver, "", dry_run=True)
    dry = "\n".join(lines)
    assert not healthy
    assert "orphan order on the exchange, unknown to the state: x-999 BTC/USDT sell 0.2 @ 150" in dry
    assert "adopting it into the state is not implemented" in dry
    assert resolver.cancelled == []

    healthy, lines = run_in_process(tmp_path, resolver, "y y y y")
    assert healthy and lines.count("     apply?") == 4
    assert any("the exchange reports fill_received 0.5 @ 89.5 (fee 0.05 USDT)" in line for line in lines)
    assert resolver.cancelled == [resolver.orphan]
    state = load_state(paths)
    trade = state.portfolio.trades[3]
    assert trade.status is TradeStatus.filled and trade.fills[0].exchange_trade_id == "ex-fill-3"
    assert state.portfolio.open_positions[2].quantity == Decimal("0.5")
    assert state.portfolio.trades[2].status_reason == (
        "closed by repair without exchange confirmation (the exchange does not know the order); "
        "was failed (timeout)"
    )
    assert 1 in state.portfolio.open_positions
    assert_replay_matches(tmp_path)


def test_declined_orphan_is_only_reported_and_exits_1(tmp_path: Path) -> None:
    write_stuck_state(tmp_path)
    resolver = FakeResolver()
    healthy, lines = run_in_process(tmp_path, resolver, "y y y n")
    assert not healthy
    assert any("order x-999 left open on the exchange (adopting it is not implemented" in line for line in lines)
    assert resolver.cancelled == []


def test_a_resolver_that_cannot_connect_is_one_line(tmp_path: Path) -> None:
    write_stuck_state(tmp_path)

    def unreachable() -> FakeResolver:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    with pytest.raises(RepairError) as refused:
        run_repair(StatePaths(tmp_path, ID), RepairOptions(), ask=lambda _q: True, resolver_factory=unreachable)
    assert str(refused.value) == (
        "cannot reach the exchange to check trades: ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_a_full_disk_while_recording_is_one_line_and_keeps_only_whole_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_stuck_state(tmp_path)
    log_before, snapshot_before = paths.log.read_bytes(), paths.snapshot.read_bytes()
    append = EventLog.append_lines
    calls = 0

    def fills_up(self: EventLog, lines: list[bytes], fsync: bool = True) -> int:
        nonlocal calls
        calls += 1
        if calls > 1:  # the first step's batch goes in; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return append(self, lines, fsync)

    monkeypatch.setattr(EventLog, "append_lines", fills_up)
    assert main(["repair", "--state-dir", str(tmp_path), "--id", ID, "--auto-approve"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: could not record the repair of trade 3 (repair_applied): the disk is full (No space left on "
        "device); the changes before it are recorded, it and those after it are not; run `trade-executor "
        "repair` again once there is space\n"
    )
    monkeypatch.undo()
    # Nothing half-done: the log has whole records up to the first step, the snapshot is untouched.
    added = paths.log.read_bytes()[len(log_before) :].splitlines()
    assert [orjson.loads(line)["type"] for line in added] == ["repair_applied"]
    assert paths.snapshot.read_bytes() == snapshot_before
    assert load_state(paths).portfolio.trades[2].status is TradeStatus.repaired
    assert load_state(paths).portfolio.trades[3].status is TradeStatus.submitted

    assert main(["repair", "--state-dir", str(tmp_path), "--id", ID, "--auto-approve"]) == 0  # space again
    assert "repaired: the state is healthy" in capsys.readouterr().out
    assert_replay_matches(tmp_path)


def test_a_full_disk_for_the_snapshot_keeps_the_recorded_repair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = write_stuck_state(tmp_path)

    def no_space(self: StateStore) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StateStore, "save_snapshot", no_space)
    assert main(["repair", "--state-dir", str(tmp_path), "--id", ID, "--auto-approve"]) == 2
    assert capsys.readouterr().err == (
        f"error: the repair is recorded in {ID}.events.jsonl, but the snapshot {ID}.json could not be "
        "written: the disk is full (No space left on device); `trade-executor start` rebuilds it from the log\n"
    )
    monkeypatch.undo()
    assert not load_state(paths).portfolio.frozen_positions


def test_a_running_writer_makes_repair_fail_with_the_lock_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stuck_state(tmp_path)
    with StateStore(tmp_path, ID):
        result = cli(tmp_path, "repair", "--auto-approve")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "another trade-executor process is writing this state" in result.stderr
        assert f"{ID}.lock" in result.stderr and "Traceback" not in result.stderr
        # A dry run refuses too: a running executor's open orders are not stuck trades.
        assert main(["repair", "--state-dir", str(tmp_path), "--id", ID, "--dry-run"]) == 2
        assert "another trade-executor process is writing this state" in capsys.readouterr().err


def test_no_state_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["repair", "--state-dir", str(tmp_path), "--id", ID]) == 2
    assert "error: no state for executor 't'" in capsys.readouterr().err
