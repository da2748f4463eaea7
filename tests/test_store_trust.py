"""Start-up trusts neither the snapshot nor a record just because its checksum is right.

An edited snapshot, a snapshot copied from another executor, a snapshot field of the wrong type
and a chain-valid record the reducer refuses are each refused before anything is appended, naming
the place and the `repair` command; `repair` then cuts the log at the impossible record. A sealed
snapshot is checked against the log in O(1) of its length: an impossible record before its seq
shows as a chain value that differs there (rewriting one record re-chains every later line), and
`--verify-log` names the record itself; one after its seq is refused by the reducer in the tail.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventgen import event_sequences
from hypothesis import HealthCheck, given, settings

from tradeexecutor.cli.main import main
from tradeexecutor.repair.log import apply_log_repair, plan_log_repair
from tradeexecutor.state.codec import encode_head
from tradeexecutor.state.events import DepositMade, Event, FillReceived
from tradeexecutor.state.values import utc
from tradeexecutor.store.errors import CorruptLog, CorruptSnapshot
from tradeexecutor.store.eventlog import GENESIS, EventLog, chain_of
from tradeexecutor.store.logline import body_of, seal
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import SEAL_MEMBERS
from tradeexecutor.store.snapshot import load_snapshot
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario

T = utc(2026, 1, 1)


def _write_state(
    folder: Path, executor_id: str = "t", scenario_id: str = "test", snapshot_at: int | None = None
) -> StatePaths:
    """Setup and three round trips; the snapshot at the end, or at seq `snapshot_at`."""
    scenario = Scenario(executor_id=scenario_id)
    store = StateStore(folder, executor_id).open()
    store.record(scenario.setup())
    for event in scenario.closed_positions(3):
        store.record([event])
        if store.state.last_event_seq == snapshot_at:
            store.save_snapshot()
    store.close(snapshot=snapshot_at is None)
    return store.paths


def _hint(paths: StatePaths) -> str:
    return f"run `trade-executor repair --state-dir {paths.state_dir} --id {paths.executor_id}` to fix it (it backs up first)"


def _body(seq: int, record: Event | dict[str, Any]) -> bytes:
    """A log line's bytes before its chain value: an event, or any JSON object (what a buggy
    writer could leave)."""
    return encode_head(seq, record) if isinstance(record, Event) else orjson.dumps(record)[:-1]


def _replace_line(paths: StatePaths, seq: int, body: bytes) -> int:
    """Put a record with `body` in place of record `seq` and re-chain every line from there, so
    the whole log verifies line by line (as a buggy writer would leave it); returns the byte
    offset of that line."""
    lines = paths.log.read_bytes().splitlines(keepends=True)
    chain = chain_of(lines[seq - 2]) if seq > 1 else GENESIS
    for index in range(seq - 1, len(lines)):
        lines[index], chain = seal(body if index == seq - 1 else body_of(lines[index]), chain)
    paths.log.write_bytes(b"".join(lines))
    return sum(len(x) for x in lines[: seq - 1])


def _unsealed(raw: dict[str, Any]) -> dict[str, Any]:
    """The snapshot as a writer without the seal (an older version, a tool) leaves it."""
    return {name: value for name, value in raw.items() if name not in SEAL_MEMBERS}


def _chain_mismatch(paths: StatePaths) -> str:
    raw = _snapshot_raw(paths)
    seq = raw["last_event_seq"]
    in_log = chain_of(paths.log.read_bytes().splitlines(keepends=True)[seq - 1]).hex()
    return (
        f"snapshot {paths.snapshot} does not match its log {paths.log} at seq {seq}: the log's chain value "
        f"there is {in_log}, the snapshot recorded {raw['log_chain']} (the log was changed before that point "
        f"after the snapshot was written, or the snapshot belongs to another log); {_hint(paths)}"
    )


def _snapshot_raw(paths: StatePaths) -> dict[str, Any]:
    raw: dict[str, Any] = orjson.loads(paths.snapshot.read_bytes())
    return raw


# --- impossible records before the snapshot point ----------------------------------------------

IMPOSSIBLE: list[tuple[int, Event | dict[str, Any], str]] = [
    (6, DepositMade(T, "USDT", Decimal("-5"), "initial deposit"),
     "the event does not apply: DepositMade refused: deposit amount -5 must be positive"),
    (6, DepositMade(T, "USDT", Decimal("0"), "initial deposit"),
     "the event does not apply: DepositMade refused: deposit amount 0 must be positive"),
    (9, FillReceived(utc(2026, 1, 1, 0, 0, 1), 1, Decimal("5"), Decimal("30000"), Decimal("0.1"), "USDT", "f1"),
     "the event does not apply: FillReceived refused: fill of 5 exceeds the 0.0125 left of trade 1"),
    (9, FillReceived(utc(2026, 1, 1, 0, 0, 1), 99, Decimal("0.0125"), Decimal("30000"), Decimal("0.1"), "USDT", "f1"),
     "the event does not apply: FillReceived refused: unknown trade id 99"),
    (9, FillReceived(utc(2026, 1, 1, 0, 0, 1), 1, Decimal("0.0125"), Decimal("30000"), Decimal("-0.1"), "USDT", "f1"),
     "the event does not apply: FillReceived refused: fee -0.1 must not be negative"),
    (9, {"seq": 9, "type": "bogus_happened", "at": "2026-01-01T00:00:01.000Z", "data": {}},
     "record seq 9: unknown event type 'bogus_happened' (not one this version of tradeexecutor knows)"),
    (9, {"seq": 9, "type": "order_cancelled", "at": "2026-01-01T00:00:01.000Z", "data": {"trade_id": 2**60, "reason": ""}},
     "record seq 9: order_cancelled: expected an integer below 2^53 (a JavaScript safe integer), got 1152921504606846976"),
]  # fmt: skip


@pytest.mark.parametrize(("seq", "record", "problem"), IMPOSSIBLE, ids=[p for _, _, p in IMPOSSIBLE])
def test_a_chain_valid_impossible_record_before_the_snapshot_is_refused_and_repair_cuts_there(
    tmp_path: Path, seq: int, record: Event | dict[str, Any], problem: str
) -> None:
    paths = _write_state(tmp_path)
    records_before = paths.log.read_bytes().count(b"\n")
    offset = _replace_line(paths, seq, _body(seq, record))
    log_before = paths.log.read_bytes()

    # O(1) start-up: the chain value at the snapshot's seq is not the one it recorded.
    with pytest.raises(CorruptSnapshot) as refused:
        StateStore(tmp_path, "t").open()
    assert str(refused.value) == _chain_mismatch(paths)
    # The full verification names the record itself.
    with pytest.raises(CorruptLog) as caught:
        StateStore(tmp_path, "t", verify_log=True).open()
    assert str(caught.value) == (
        f"event log {paths.log} is damaged at line {seq} (byte {offset}): {problem}; {_hint(paths)}"
    )
    assert paths.log.read_bytes() == log_before  # nothing appended

    plan = plan_log_repair(paths)
    assert plan is not None
    assert (plan.damaged_line, plan.kept_records, plan.kept_bytes) == (seq, seq - 1, offset)
    assert plan.problem == problem
    assert plan.needs_confirmation  # good records after the impossible one are dropped
    assert plan.later_lines == records_before - seq
    apply_log_repair(plan)
    store = StateStore(tmp_path, "t").open()
    assert store.state.last_event_seq == seq - 1
    store.close()


@pytest.mark.parametrize(("seq", "record", "problem"), IMPOSSIBLE, ids=[p for _, _, p in IMPOSSIBLE])
def test_a_chain_valid_impossible_record_after_the_snapshot_is_refused_in_the_tail(
    tmp_path: Path, seq: int, record: Event | dict[str, Any], problem: str
) -> None:
    paths = _write_state(tmp_path, snapshot_at=5)
    offset = _replace_line(paths, seq, _body(seq, record))
    log_before = paths.log.read_bytes()
    with pytest.raises(CorruptLog) as caught:
        StateStore(tmp_path, "t").open()
    assert str(caught.value) == (
        f"event log {paths.log} is damaged at line {seq} (byte {offset}): {problem}; {_hint(paths)}"
    )
    assert paths.log.read_bytes() == log_before


def test_a_broken_chain_in_the_tail_is_refused_naming_the_line_and_repair(tmp_path: Path) -> None:
    paths = _write_state(tmp_path, snapshot_at=5)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    changed = lines[7].replace(b'"at":"2026', b'"at":"2027', 1)  # one digit of a tail record
    assert changed != lines[7]
    lines[7] = changed
    paths.log.write_bytes(b"".join(lines))
    offset = sum(len(x) for x in lines[:7])
    stored = chain_of(lines[7]).hex()
    computed = seal(body_of(lines[7]), chain_of(lines[6]))[1].hex()
    with pytest.raises(CorruptLog) as caught:
        StateStore(tmp_path, "t").open()
    assert str(caught.value) == (
        f"event log {paths.log} is damaged at line 8 (byte {offset}): checksum mismatch (stored {stored}, "
        f"computed {computed} from the record and the chain value before it); {_hint(paths)}"
    )


def test_start_up_reads_no_line_before_the_snapshots_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: the O(1) check reads the first line (its executor), the snapshot's line
    and the tail; the lines in between are never decoded, so overwriting them changes nothing."""
    paths = _write_state(tmp_path, snapshot_at=20)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    assert len(lines) == 24
    decoded: list[str] = []
    original = EventLog.fold

    def counting_fold(self: EventLog, state: Any, mark: Any = None, until_seq: int | None = None) -> Any:
        decoded.append(f"{mark.seq if mark else 0}..{until_seq}")
        return original(self, state, mark, until_seq) if mark else original(self, state, until_seq=until_seq)

    monkeypatch.setattr(EventLog, "fold", counting_fold)
    with StateStore(tmp_path, "t") as store:
        assert store.state.last_event_seq == len(lines)
        store.close(snapshot=False)
    assert decoded == ["0..1", "20..None"]  # line 1, then the tail after seq 20
    # The lines between are not read at all: garbage there goes unnoticed by start-up...
    lines[9] = b"garbage\n"
    paths.log.write_bytes(b"".join(lines))
    with StateStore(tmp_path, "t") as store:
        assert store.state.last_event_seq == len(lines)
        store.close(snapshot=False)
    # ...and is found by the full verification.
    with pytest.raises(CorruptLog, match="at line 10 .*the record has no chain value at its end"):
        StateStore(tmp_path, "t", verify_log=True).open()


def test_the_cli_refuses_an_impossible_record_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _write_state(tmp_path)
    _replace_line(paths, 6, _body(6, DepositMade(T, "USDT", Decimal("-5"))))
    assert main(["show", "--state-dir", str(tmp_path), "--id", "t"]) == 2
    assert capsys.readouterr().err == f"error: {_chain_mismatch(paths)}\n"
    paths = _write_state(tmp_path / "tail", snapshot_at=5)
    offset = _replace_line(paths, 6, _body(6, DepositMade(T, "USDT", Decimal("-5"))))
    assert main(["show", "--state-dir", str(paths.state_dir), "--id", "t"]) == 2
    assert capsys.readouterr().err == (
        f"error: event log {paths.log} is damaged at line 6 (byte {offset}): the event does not apply: "
        f"DepositMade refused: deposit amount -5 must be positive; {_hint(paths)}\n"
    )


# --- snapshots that do not match their log -------------------------------------------------------


def _changed(paths: StatePaths) -> str:
    return (
        f"snapshot {paths.snapshot} was changed after it was written (its digest does not match its contents; "
        f"was it edited?); {_hint(paths)}"
    )


def test_a_reserve_edited_by_hand_in_the_snapshot_is_refused_by_its_digest(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    raw = _snapshot_raw(paths)
    real = raw["portfolio"]["reserves"]["USDT"]
    raw["portfolio"]["reserves"]["USDT"] = "2000000"
    paths.snapshot.write_bytes(orjson.dumps(raw))
    log_before = paths.log.read_bytes()
    with pytest.raises(CorruptSnapshot) as caught:
        StateStore(tmp_path, "t").open()
    assert str(caught.value) == _changed(paths)
    # The full verification rebuilds the state and names the field.
    with pytest.raises(CorruptSnapshot) as caught:
        StateStore(tmp_path, "t", verify_log=True).open()
    assert str(caught.value) == (
        f"snapshot {paths.snapshot} does not match its log {paths.log} at seq {raw['last_event_seq']}: "
        f'portfolio.reserves.USDT is "2000000" in the snapshot but "{real}" in the state rebuilt from the log '
        f"(was the snapshot edited?); {_hint(paths)}"
    )
    assert paths.log.read_bytes() == log_before
    plan = plan_log_repair(paths)
    assert plan is not None and not plan.changes_log
    assert plan.snapshot_problem == f"it differs from the state rebuilt from the log at event {raw['last_event_seq']}"
    apply_log_repair(plan)
    with StateStore(tmp_path, "t") as store:
        assert str(store.state.cash()) == real


def test_a_snapshot_whose_digest_alone_was_changed_is_refused_and_repair_sets_it_aside(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    data = paths.snapshot.read_bytes()
    paths.snapshot.write_bytes(data[:-66] + b"0" * 64 + b'"}')  # the contents are still the log's
    with pytest.raises(CorruptSnapshot) as caught:
        StateStore(tmp_path, "t").open()
    assert str(caught.value) == _changed(paths)
    plan = plan_log_repair(paths)
    assert plan is not None and not plan.changes_log
    assert plan.snapshot_problem == "it was changed after it was written (its digest does not match its contents)"
    apply_log_repair(plan)
    assert not paths.snapshot.exists()
    with StateStore(tmp_path, "t") as store:  # rebuilt from the log
        assert store.state.last_event_seq == paths.log.read_bytes().count(b"\n")


def test_a_reserve_edited_by_hand_in_an_unsealed_snapshot_is_refused_naming_the_field(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    raw = _unsealed(_snapshot_raw(paths))
    real = raw["portfolio"]["reserves"]["USDT"]
    raw["portfolio"]["reserves"]["USDT"] = "2000000"
    paths.snapshot.write_bytes(orjson.dumps(raw))  # no seal: checked against the whole log
    log_before = paths.log.read_bytes()
    with pytest.raises(CorruptSnapshot) as caught:
        StateStore(tmp_path, "t").open()
    assert str(caught.value) == (
        f"snapshot {paths.snapshot} does not match its log {paths.log} at seq {raw['last_event_seq']}: "
        f'portfolio.reserves.USDT is "2000000" in the snapshot but "{real}" in the state rebuilt from the log '
        f"(was the snapshot edited?); {_hint(paths)}"
    )
    assert paths.log.read_bytes() == log_before
    # repair sets the snapshot aside and leaves the log; start-up then rebuilds it.
    plan = plan_log_repair(paths)
    assert plan is not None and not plan.changes_log
    assert plan.snapshot_problem == f"it differs from the state rebuilt from the log at event {raw['last_event_seq']}"
    apply_log_repair(plan)
    with StateStore(tmp_path, "t") as store:
        assert str(store.state.cash()) == real


def test_a_snapshot_older_than_the_log_is_checked_at_its_own_seq(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    scenario = Scenario()
    with StateStore(tmp_path, "t") as store:
        scenario.next_trade_id, scenario.next_position_id = 7, 4
        store.record(scenario.round_trip(Decimal("0.0125"), Decimal("30000"), Decimal("30100")))
        store.close(snapshot=False)
    raw = _snapshot_raw(paths)
    assert raw["last_event_seq"] < paths.log.read_bytes().count(b"\n")
    raw["cycle"] = 1
    paths.snapshot.write_bytes(orjson.dumps(raw))
    with pytest.raises(CorruptSnapshot) as caught:
        load_state(paths)
    assert str(caught.value) == _changed(paths)
    for unsealed in (False, True):
        paths.snapshot.write_bytes(orjson.dumps(_unsealed(raw) if unsealed else raw))
        with pytest.raises(CorruptSnapshot, match=rf"at seq {raw['last_event_seq']}: cycle is 1 in the snapshot but 0 in"):
            load_state(paths, verify_log=not unsealed)


def test_a_snapshot_of_another_executor_is_blamed_on_the_snapshot(tmp_path: Path) -> None:
    paths = _write_state(tmp_path / "a", "t", scenario_id="test")
    other = _write_state(tmp_path / "b", "t", scenario_id="other")
    paths.snapshot.write_bytes(other.snapshot.read_bytes())
    expected = (
        f"snapshot {paths.snapshot} belongs to executor 'other', but its log {paths.log} is executor 'test''s "
        f"(was the snapshot copied from another executor?); {_hint(paths)}"
    )
    with pytest.raises(CorruptSnapshot) as caught:
        StateStore(tmp_path / "a", "t").open()
    assert str(caught.value) == expected
    # Also when the foreign snapshot is ahead of a shorter log (was: "events are missing from the log").
    lines = paths.log.read_bytes().splitlines(keepends=True)
    paths.log.write_bytes(b"".join(lines[:8]))
    with pytest.raises(CorruptSnapshot) as caught:
        load_state(paths)
    assert str(caught.value) == expected


# --- snapshot fields of the wrong type -----------------------------------------------------------

BAD_FIELDS: list[tuple[str, Any, str]] = [
    ("cycle", "abc", 'cycle is a string "abc", expected a whole number 0..2^53-1'),
    ("cycle", 1e40, "cycle is a number 1e+40, expected a whole number 0..2^53-1"),
    ("cycle", -1, "cycle is a number -1, expected a whole number 0..2^53-1"),
    ("cycle", True, "cycle is a boolean true, expected a whole number 0..2^53-1"),
    ("portfolio.reserves.USDT", 5, "portfolio.reserves.USDT is a number 5, expected a decimal string >= 0"),
    ("portfolio.reserves.USDT", "lots", 'portfolio.reserves.USDT is a string "lots", expected a decimal string >= 0'),
    ("portfolio.reserves.USDT", "NaN", 'portfolio.reserves.USDT is a string "NaN", expected a decimal string >= 0'),
    ("created_at", "yesterday", 'created_at is a string "yesterday", expected an ISO 8601 UTC timestamp string'),
    ("portfolio.next_trade_id", None, "portfolio.next_trade_id is null, expected a positive whole number (an id)"),
    ("portfolio.closed_positions.1.trades.1.side", "up", 'portfolio.closed_positions.1.trades.1.side is a string "up", expected one of buy, sell'),
    ("equity", [], "equity is a list, expected an object"),
    ("portfolio.next_position_id", "DELETE", "portfolio.next_position_id is missing"),
    ("surprise", 1, "surprise is not a field of the snapshot"),
]  # fmt: skip


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = raw
    for name in parents:
        node = node[name]
    if value == "DELETE":
        del node[last]
    else:
        node[last] = value


@pytest.mark.parametrize(("field", "value", "problem"), BAD_FIELDS, ids=[f"{f}={v!r}" for f, v, _ in BAD_FIELDS])
def test_a_snapshot_field_of_the_wrong_type_is_refused_naming_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any, problem: str
) -> None:
    paths = _write_state(tmp_path)
    raw = _snapshot_raw(paths)
    _set(raw, field, value)
    paths.snapshot.write_bytes(orjson.dumps(raw))
    expected = f"snapshot {paths.snapshot} has a bad field: {problem}; {_hint(paths)}"
    for read in (lambda: StateStore(tmp_path, "t").open(), lambda: load_snapshot(paths.snapshot)):
        with pytest.raises(CorruptSnapshot) as caught:
            read()
        assert str(caught.value) == expected
    assert main(["show", "--state-dir", str(tmp_path), "--id", "t"]) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"


def test_a_bad_last_event_seq_is_named_not_a_type_error(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    raw = _snapshot_raw(paths)
    raw["last_event_seq"] = "12"
    paths.snapshot.write_bytes(orjson.dumps(raw))
    with pytest.raises(CorruptSnapshot) as caught:
        StateStore(tmp_path, "t").open()
    assert str(caught.value) == (
        f'snapshot {paths.snapshot} has a bad field: last_event_seq is a string "12", expected a whole number '
        f"0..2^53-1; {_hint(paths)}"
    )


def test_every_snapshot_error_names_the_repair_command(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    for data in (b"{not json", b"[1, 2]", b'{"schema_version": 99}', b'{"schema_version": "1"}'):
        paths.snapshot.write_bytes(data)
        with pytest.raises(CorruptSnapshot) as caught:
            StateStore(tmp_path, "t").open()
        assert str(caught.value).endswith(_hint(paths)), str(caught.value)


def test_replay_and_repair_name_a_bad_snapshot_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _write_state(tmp_path)
    raw = _snapshot_raw(paths)
    raw["cycle"] = "abc"
    paths.snapshot.write_bytes(orjson.dumps(raw))
    problem = 'has a bad field: cycle is a string "abc", expected a whole number 0..2^53-1'
    assert main(["replay", "--state-dir", str(tmp_path), "--id", "t"]) == 2
    assert capsys.readouterr().err == f"error: snapshot {paths.snapshot} {problem}; {_hint(paths)}\n"
    plan = plan_log_repair(paths)
    assert plan is not None and plan.snapshot_problem == f"unreadable: it {problem}"
    apply_log_repair(plan)
    assert main(["replay", "--state-dir", str(tmp_path), "--id", "t"]) == 0  # no snapshot now: rebuilt from the log


# --- the shape check accepts what the store writes -----------------------------------------------


def test_the_shape_check_and_the_schema_accept_the_rich_snapshot_with_a_run_configuration(tmp_path: Path) -> None:
    from test_state_schema import read_json, rich_events, schema_errors, write_snapshot

    from tradeexecutor.state.events import RunConfigured
    from tradeexecutor.store.snapshot_shape import check_snapshot_shape

    events = rich_events()
    configured = RunConfigured(
        events[-1].at, "/strategies/sma.py", "a" * 64, "paper", "BTC/USDT", Decimal("0.001"), Decimal(0),
        "next_open", Decimal("10000"), "/data/btc.csv", "b" * 64, T, utc(2026, 2, 1), None, {"fast": "10"},
    )  # fmt: skip
    path, _ = write_snapshot(tmp_path, [*events, configured])
    snapshot = read_json(path)
    assert snapshot["run_configuration"]["parameters"] == {"fast": "10"}
    check_snapshot_shape(snapshot)
    assert schema_errors(snapshot) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_sequences())
def test_the_shape_check_accepts_every_reachable_state(events: list[Event]) -> None:
    from tradeexecutor.state.reducer import fold
    from tradeexecutor.store.snapshot import dump_state
    from tradeexecutor.store.snapshot_shape import check_snapshot_shape

    check_snapshot_shape(orjson.loads(dump_state(fold(events))))


def test_a_snapshot_in_the_older_layout_without_refusals_still_matches(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    raw = _unsealed(_snapshot_raw(paths))  # written before the seal...
    del raw["refusals"]  # ...and before refusals were summarised in the state
    paths.snapshot.write_bytes(orjson.dumps(raw))
    assert load_state(paths).last_event_seq == raw["last_event_seq"]
