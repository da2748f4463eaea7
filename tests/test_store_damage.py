"""The store refuses damaged files with a message naming the problem, the place and the fix."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import FillReceived
from tradeexecutor.state.state import SCHEMA_VERSION
from tradeexecutor.state.trade import Side
from tradeexecutor.store.errors import CorruptLog, CorruptSnapshot, InvalidExecutorId, StateLocked
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.snapshot import dump_state
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario


def _write_state(folder: Path, round_trips: int = 3, snapshot: bool = True) -> StatePaths:
    scenario = Scenario()
    store = StateStore(folder, "t").open()
    store.record(scenario.setup())
    for event in scenario.closed_positions(round_trips):
        store.record([event])
    store.close(snapshot=snapshot)
    return store.paths


def test_every_cut_inside_the_last_record_is_refused_naming_repair(tmp_path: Path) -> None:
    paths = _write_state(tmp_path, snapshot=False)
    data = paths.log.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    record_count = data.count(b"\n")
    cuts = range(last_start + 1, len(data))  # every offset inside the last record (keeps at least 1 byte)
    assert len(cuts) > 100
    for cut in cuts:
        paths.log.write_bytes(data[:cut])
        with pytest.raises(CorruptLog) as caught:
            load_state(paths)
        message = str(caught.value)
        assert f"line {record_count} " in message, message
        assert "trade-executor repair --state-dir" in message
        assert caught.value.offset == last_start
    # Cutting exactly at the record boundary leaves a shorter, valid log.
    paths.log.write_bytes(data[:last_start])
    assert load_state(paths).last_event_seq == record_count - 1


def test_checksum_mismatch_names_line_and_both_checksums(tmp_path: Path) -> None:
    paths = _write_state(tmp_path, snapshot=False)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"USDT"', b'"USDX"', 1)
    paths.log.write_bytes(b"".join(lines))
    with pytest.raises(
        CorruptLog, match=r"line 5 .*checksum mismatch \(stored [0-9a-f]{16}, computed [0-9a-f]{16} from the record"
    ):
        load_state(paths)


def test_gap_in_sequence_numbers_is_refused(tmp_path: Path) -> None:
    paths = _write_state(tmp_path, snapshot=False)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    del lines[7]
    paths.log.write_bytes(b"".join(lines))
    with pytest.raises(CorruptLog, match="line 8 .*gap in sequence numbers: expected seq 8, found 9"):
        load_state(paths)


def test_damage_before_the_snapshot_point_is_found_by_verify_log_and_replay(tmp_path: Path) -> None:
    """A flipped byte inside the prefix leaves the chain values written on later lines as they
    were: start-up's O(1) check cannot see it (that is its price), the full verifications do."""
    paths = _write_state(tmp_path, snapshot=True)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:10] + b"X" + lines[2][11:]
    paths.log.write_bytes(b"".join(lines))
    with StateStore(tmp_path, "t") as store:  # the sealed snapshot checks out against the last line
        assert store.state.last_event_seq == len(lines)
        store.close(snapshot=False)
    with pytest.raises(CorruptLog, match="line 3 .*checksum mismatch"):
        StateStore(tmp_path, "t", verify_log=True).open()
    with pytest.raises(CorruptLog, match="line 3 .*checksum mismatch"):
        load_state(paths, use_snapshot=False)


def test_snapshot_ahead_of_the_log_is_refused(tmp_path: Path) -> None:
    paths = _write_state(tmp_path, snapshot=True)
    lines = paths.log.read_bytes().splitlines(keepends=True)
    paths.log.write_bytes(b"".join(lines[:-3]))
    with pytest.raises(CorruptSnapshot, match="events are missing from the log.*trade-executor repair"):
        load_state(paths)


def test_unreadable_snapshot_is_refused_not_ignored(tmp_path: Path) -> None:
    paths = _write_state(tmp_path)
    paths.snapshot.write_bytes(b'{"schema_version": 1, "truncated')
    with pytest.raises(CorruptSnapshot, match="not valid JSON"):
        load_state(paths)
    raw = orjson.loads(dump_state(load_state(paths, use_snapshot=False)))
    raw["schema_version"] = 99
    paths.snapshot.write_bytes(orjson.dumps(raw))
    with pytest.raises(CorruptSnapshot, match=f"schema_version 99, newer than this executor's {SCHEMA_VERSION}"):
        load_state(paths)


def test_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with StateStore(tmp_path, "t"):
        with pytest.raises(StateLocked, match="another trade-executor process is writing this state"):
            StateStore(tmp_path, "t").open()
    with StateStore(tmp_path, "t"):  # released on close
        pass


def test_second_writer_in_another_process_is_refused(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from tradeexecutor.store.state_store import StateStore\n"
        "from tradeexecutor.store.errors import StateLocked\n"
        "try:\n"
        f"    StateStore({str(tmp_path)!r}, 't').open()\n"
        "except StateLocked as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    with StateStore(tmp_path, "t"):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert "lock" in result.stdout and "t.lock" in result.stdout


def test_bad_executor_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidExecutorId, match="not valid"):
        StateStore(tmp_path, "../escape")


def test_refused_event_in_a_batch_keeps_log_and_state_in_step(tmp_path: Path) -> None:
    scenario = Scenario()
    store = StateStore(tmp_path, "t").open()
    setup = scenario.setup()
    good = scenario.trade(Side.buy, Decimal("1"), Decimal("100"))
    bad_fill = FillReceived(good[-1].at, 1, Decimal("5"), Decimal("100"), Decimal("0"), "USDT", None)

    with pytest.raises(InvalidEvent, match="trade 1 is filled"):
        store.record(setup + good + [bad_fill])
    assert store.state.last_event_seq == len(setup) + len(good)
    store.close()
    assert dump_state(load_state(store.paths, use_snapshot=False)) == dump_state(store.state)
