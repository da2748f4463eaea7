"""Logs of the first format (a CRC-32 per line, no chain) are read as they are and, by the first
writer, verified in full and rewritten chained, with the old log kept beside it.

The fixture in tests/data/v1/ was written by tradeexecutor before the chain (see its README).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from tradeexecutor.cli.main import main
from tradeexecutor.store.errors import CorruptLog
from tradeexecutor.store.eventlog import GENESIS, EventLog
from tradeexecutor.store.logline import CRC_TAIL, body_of, line_format, seal
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state, parse_state
from tradeexecutor.store.state_store import StateStore, load_state

FIXTURE = Path(__file__).parent / "data" / "v1"


def _old_files(folder: Path, snapshot: bool = True) -> StatePaths:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURE / "v1.events.jsonl", folder / "v1.events.jsonl")
    if snapshot:
        shutil.copyfile(FIXTURE / "v1.json", folder / "v1.json")
    return StatePaths(folder, "v1")


def _hint(paths: StatePaths) -> str:
    return f"run `trade-executor repair --state-dir {paths.state_dir} --id {paths.executor_id}` to fix it (it backs up first)"


def test_the_fixture_is_in_the_first_format() -> None:
    lines = (FIXTURE / "v1.events.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 255 and {line_format(line) for line in lines} == {1}
    assert b"log_chain" not in (FIXTURE / "v1.json").read_bytes()


def test_readers_read_an_old_log_as_it_is_and_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _old_files(tmp_path)
    before = paths.log.read_bytes()
    state = load_state(paths)  # no lock, no migration: the unsealed snapshot checked against the whole log
    assert state.last_event_seq == 255
    # The snapshot was written with schema_version 1 (the curve inside); it reads as today's layout.
    assert dump_state(state) == dump_state(parse_state(paths.snapshot.read_bytes()))
    assert main(["replay", "--state-dir", str(tmp_path), "--id", "v1"]) == 0
    out = capsys.readouterr().out
    assert "note: the snapshot is in an older layout; it is compared as migrated to schema_version 2" in out
    assert "match: the snapshot equals the state rebuilt from the log" in out
    assert [r.seq for r in EventLog.of(paths).records()] == list(range(1, 256))
    assert paths.log.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["v1.events.jsonl", "v1.json"]


@pytest.mark.parametrize("snapshot", [True, False], ids=["with snapshot", "log only"])
def test_the_first_writer_rewrites_the_log_chained_and_keeps_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snapshot: bool
) -> None:
    paths = _old_files(tmp_path, snapshot)
    old = paths.log.read_bytes()
    expected = dump_state(load_state(paths))
    with StateStore(tmp_path, "v1") as store:
        assert dump_state(store.state) == expected
        store.close(snapshot=False)
    backup = tmp_path / "v1.events.v1.jsonl.bak"
    assert capsys.readouterr().err == (
        f"note: rewrote the event log {paths.log} in the chained format; the old one is kept as {backup}\n"
    )
    assert backup.read_bytes() == old
    # Each line keeps its bytes up to the checksum, which is now its link in the chain.
    old_lines, new_lines = old.splitlines(keepends=True), paths.log.read_bytes().splitlines(keepends=True)
    chain = GENESIS
    for old_line, new_line in zip(old_lines, new_lines, strict=True):
        assert new_line == seal(old_line[:-CRC_TAIL], chain)[0] and body_of(new_line) == old_line[:-CRC_TAIL]
        chain = seal(body_of(new_line), chain)[1]
    # The store sealed a snapshot at once, so the next start is the O(1) one; and says nothing more.
    state_json, sealed = unseal(paths.snapshot.read_bytes())
    assert sealed is not None and sealed.intact and sealed.chain == chain and state_json == expected
    with StateStore(tmp_path, "v1") as store:
        assert dump_state(store.state) == expected
    assert capsys.readouterr().err == ""
    assert dump_state(load_state(paths, verify_log=True)) == dump_state(load_state(paths))
    assert not (tmp_path / "v1.events.jsonl.migrating").exists()


def test_an_old_log_with_damage_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    paths = _old_files(tmp_path)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    lines[40] = lines[40].replace(b'"seq":41', b'"seq":14', 1)
    paths.log.write_bytes(b"".join(lines))
    damaged = paths.log.read_bytes()
    offset = sum(len(x) for x in lines[:40])
    with pytest.raises(CorruptLog) as caught:
        StateStore(tmp_path, "v1").open()
    assert str(caught.value).startswith(f"event log {paths.log} is damaged at line 41 (byte {offset}): checksum mismatch")
    assert str(caught.value).endswith(_hint(paths))
    assert paths.log.read_bytes() == damaged and not (tmp_path / "v1.events.v1.jsonl.bak").exists()


def test_a_second_migration_never_overwrites_an_earlier_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _old_files(tmp_path, snapshot=False)
    (tmp_path / "v1.events.v1.jsonl.bak").write_bytes(b"an earlier backup\n")
    StateStore(tmp_path, "v1").open().close()
    assert (tmp_path / "v1.events.v1.jsonl.bak").read_bytes() == b"an earlier backup\n"
    assert (tmp_path / "v1.events.v1.jsonl.bak.2").read_bytes() == (FIXTURE / "v1.events.jsonl").read_bytes()
    assert "v1.events.v1.jsonl.bak.2" in capsys.readouterr().err
    assert orjson.loads(paths.snapshot.read_bytes())["last_event_seq"] == 255


def test_start_verify_log_finds_prefix_damage_that_the_o1_start_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = str(tmp_path / "state")
    run = ["start", "--state-dir", state_dir, "--no-progress", "--max-cycles"]
    assert main([*run, "20"]) == 0
    paths = StatePaths(tmp_path / "state", "default")
    lines = paths.log.read_bytes().splitlines(keepends=True)
    changed = lines[2].replace(b'"decimals":8', b'"decimals":9', 1)  # inside the prefix the snapshot covers
    assert changed != lines[2]
    lines[2] = changed
    paths.log.write_bytes(b"".join(lines))
    offset = sum(len(x) for x in lines[:2])
    capsys.readouterr()
    assert main([*run, "1"]) == 0  # the O(1) start-up reads line 1, the snapshot's line and the tail
    capsys.readouterr()
    assert main([*run, "1", "--verify-log"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: event log {paths.log} is damaged at line 3 (byte {offset}): checksum mismatch")
    assert err.endswith(f"{_hint(paths)}\n") and err.count("\n") == 1


def test_line_at_finds_a_line_by_its_seq_from_a_wrong_hint_or_none(tmp_path: Path) -> None:
    """The snapshot's offset is only a hint: a stale one (a log whose line ends were normalised
    before that point, which leaves every chain value as it was) is searched back from the end."""
    paths = _old_files(tmp_path, snapshot=False)
    StateStore(tmp_path, "v1").open().close(snapshot=False)  # migrated: chained
    data = paths.log.read_bytes()
    lines = data.splitlines(keepends=True)
    log = EventLog.of(paths)
    offsets = [sum(len(x) for x in lines[:i]) for i in range(len(lines))]
    for seq in (1, 2, 100, 254, 255):
        for hint in (offsets[seq - 1], None, 0, offsets[seq - 1] + 1, len(data) + 10):
            assert log.line_at(seq, hint) == (lines[seq - 1], offsets[seq - 1])
    assert log.line_at(256, 0) is None and log.last_seq() == 255
    paths.log.write_bytes(data[:-1])  # a torn last line still names its seq
    assert log.last_seq() == 255 and log.line_at(255) == (lines[254][:-1], offsets[254])
