"""Snapshots saved during a run go through a background writer: the newest one wins, close waits
for it, and a failed background write stops the store with its one-line error."""

from __future__ import annotations

import errno
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_store_durability import _last_seq, failing

from tradeexecutor.cli.main import main
from tradeexecutor.store import snapshot_writer
from tradeexecutor.store.errors import StoreBroken, WriteFailed
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state
from tradeexecutor.store.snapshot_writer import SnapshotWriter
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario


def test_the_writer_writes_only_the_newest_snapshot_handed_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[bytes] = []
    gate = threading.Event()
    real = snapshot_writer.write_atomically

    def slow_write(path: Path, data: list[bytes]) -> None:
        gate.wait(10)
        written.append(b"".join(data))
        real(path, data)

    monkeypatch.setattr(snapshot_writer, "write_atomically", slow_write)
    writer = SnapshotWriter(tmp_path / "x.json")
    writer.submit(lambda: [b"1"])
    for data in (b"2", b"3", b"4"):  # handed over while "1" is still being written
        writer.submit(lambda data=data: [data])
    gate.set()
    writer.wait()
    writer.close()
    assert written[-1] == b"4" and b"2" not in written and b"3" not in written
    assert (tmp_path / "x.json").read_bytes() == b"4"


def test_a_background_save_returns_before_the_disk_and_close_writes_the_last_one(tmp_path: Path) -> None:
    scenario = Scenario()
    store = StateStore(tmp_path, "bg").open()
    store.record(scenario.setup())
    for _ in range(5):
        store.record(list(scenario.closed_positions(3)))
        store.save_snapshot(wait=False)
        assert store.snapshot_seq == store.state.last_event_seq
    store.record(scenario.cycle_end(Decimal("30000")))
    store.close()
    assert unseal(store.paths.snapshot.read_bytes())[0] == dump_state(load_state(store.paths, use_snapshot=False))


def test_a_failed_background_write_stops_the_store_at_its_next_use_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = Scenario()
    store = StateStore(tmp_path, "bg").open()
    store.record(scenario.setup())
    store.save_snapshot()
    before = store.paths.snapshot.read_bytes()
    store.record(list(scenario.closed_positions(2)))
    durable = store.state.last_event_seq
    expected = f"disk full while writing {store.paths.snapshot}: free space and rerun; nothing was lost up to seq {durable}"
    with failing(monkeypatch, ".json.tmp", partial=10):
        store.save_snapshot(wait=False)
        assert store._writer is not None
        store._writer.wait()  # the write has failed now; the store says so at its next use
        with pytest.raises(WriteFailed) as caught:
            store.record(scenario.cycle_end(Decimal("30000")))
        assert str(caught.value) == expected
        assert caught.value.errno == errno.ENOSPC
        with pytest.raises(StoreBroken) as again:
            store.save_snapshot(wait=False)
        assert str(again.value) == expected
        store.close()  # releases the lock, writes nothing
    assert store.paths.snapshot.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))
    assert _last_seq(store.paths.log) == durable
    with StateStore(tmp_path, "bg") as reopened:  # the fault is gone: it loads and carries on
        assert reopened.state.last_event_seq == durable


def test_a_paper_run_whose_snapshot_cannot_be_written_stops_with_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    snapshot = state_dir / "default.json"
    log = state_dir / "default.events.jsonl"
    writes: list[int] = []
    real_write = os.write

    def counting(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".json.tmp"):
            writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting)
    with failing(monkeypatch, ".json.tmp", after=20):  # a snapshot is a few writes (its pieces)
        code = main(["start", "--state-dir", str(state_dir), "--max-cycles", "400"])
    err = capsys.readouterr().err
    durable = _last_seq(log)
    assert code == 2
    assert err == (
        f"error: disk full while writing {snapshot}: free space and rerun; nothing was lost up to seq {durable}\n"
    )
    assert len(writes) == 20  # snapshots were being saved while it ran
    assert orjson.loads(snapshot.read_bytes())["last_event_seq"] < durable
    assert not list(state_dir.glob("*.tmp"))
    assert main(["start", "--state-dir", str(state_dir), "--max-cycles", "5"]) == 0
