"""A write that fails (full disk, file size limit) stops the store with one line and loses nothing
that reached the log: the torn record is cut back, the temp snapshot removed, no snapshot gets
ahead of the log, and the next start (after the fault is gone) loads."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tradeexecutor.cli.main import main
from tradeexecutor.repair import log as repair_log
from tradeexecutor.repair.log import RepairError, apply_log_repair, plan_log_repair
from tradeexecutor.store.errors import StoreBroken, WriteFailed
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario


def _target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@contextmanager
def failing(
    monkeypatch: pytest.MonkeyPatch, suffix: str, call: str = "write", after: int = 0, partial: int = 0,
    code: int = errno.ENOSPC,
) -> Iterator[list[int]]:  # fmt: skip
    """Make os.write/os.fsync on files ending in `suffix` fail with `code` after `after` good
    calls; a failing write first writes `partial` bytes (a torn record). Yields the call count."""
    real = getattr(os, call)
    calls = [0]

    def fake(fd: int, *args: Any) -> Any:
        if not _target(fd).endswith(suffix):
            return real(fd, *args)
        calls[0] += 1
        if calls[0] <= after:
            return real(fd, *args)
        if call == "write" and partial:
            data = bytes(args[0])[:partial]
            if calls[0] == after + 1 and data:
                return real(fd, data)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, call, fake)
    yield calls
    monkeypatch.setattr(os, call, real)


def _last_seq(log: Path) -> int:
    lines = log.read_bytes().splitlines()
    return int(orjson.loads(lines[-1])["seq"]) if lines else 0


def _store_with_history(folder: Path) -> tuple[StateStore, Scenario]:
    scenario = Scenario()
    store = StateStore(folder, "t").open()
    store.record(scenario.setup())
    store.record(list(scenario.closed_positions(2)))
    store.save_snapshot()
    return store, scenario


@pytest.mark.parametrize(("call", "partial"), [("write", 0), ("write", 100), ("fsync", 0)])
def test_disk_full_on_the_log_stops_the_store_and_cuts_back_to_the_last_whole_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, partial: int
) -> None:
    store, scenario = _store_with_history(tmp_path)
    log_before = store.paths.log.read_bytes()
    snapshot_before = store.paths.snapshot.read_bytes()
    durable = store.state.last_event_seq
    expected = f"disk full while writing {store.paths.log}: free space and rerun; nothing was lost up to seq {durable}"
    with failing(monkeypatch, ".events.jsonl", call, partial=partial):
        with pytest.raises(WriteFailed) as caught:
            store.record(list(scenario.closed_positions(1)))
        assert str(caught.value) == expected
        assert caught.value.durable_seq == durable
        assert store.paths.log.read_bytes() == log_before  # the torn record was cut back
        assert store.state.last_event_seq == durable  # the state is the log's again
        with pytest.raises(StoreBroken) as again:
            store.record(scenario.cycle_end(Decimal("30000")))
        assert str(again.value) == expected
        with pytest.raises(StoreBroken):
            store.save_snapshot()
        store.close()  # releases the lock, writes nothing
    assert store.paths.snapshot.read_bytes() == snapshot_before
    assert not list(tmp_path.glob("*.tmp"))
    with StateStore(tmp_path, "t") as reopened:  # the fault is gone: it loads and carries on
        assert reopened.state.last_event_seq == durable
        scenario.next_trade_id, scenario.next_position_id, scenario.cycle = 5, 3, 0
        reopened.record([*scenario.closed_positions(1), *scenario.cycle_end(Decimal("30000"))])


def test_disk_full_on_the_snapshot_removes_the_temp_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, scenario = _store_with_history(tmp_path)
    snapshot_before = store.paths.snapshot.read_bytes()
    store.record(list(scenario.closed_positions(1)))
    durable = store.state.last_event_seq
    with failing(monkeypatch, ".json.tmp", partial=1000):
        with pytest.raises(WriteFailed) as caught:
            store.save_snapshot()
        store.close()
    assert str(caught.value) == (
        f"disk full while writing {store.paths.snapshot}: free space and rerun; nothing was lost up to seq {durable}"
    )
    assert not list(tmp_path.glob("*.tmp"))
    assert store.paths.snapshot.read_bytes() == snapshot_before
    assert load_state(store.paths).last_event_seq == durable == _last_seq(store.paths.log)


def test_start_on_a_full_disk_prints_one_line_and_a_later_start_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    assert main(["start", "--state-dir", str(state_dir), "--max-cycles", "40"]) == 0
    capsys.readouterr()
    snapshot = state_dir / "default.json"
    log = state_dir / "default.events.jsonl"
    with failing(monkeypatch, ".events.jsonl", after=30, partial=50):
        code = main(["start", "--state-dir", str(state_dir), "--max-cycles", "200"])
    err = capsys.readouterr().err
    durable = _last_seq(log)
    assert code == 2
    assert err == (
        f"error: disk full while writing {log}: free space and rerun; nothing was lost up to seq {durable}\n"
    )
    assert not list(state_dir.glob("*.tmp"))
    assert orjson.loads(snapshot.read_bytes())["last_event_seq"] <= durable
    assert main(["start", "--state-dir", str(state_dir), "--max-cycles", "5"]) == 0
    assert load_state_seq(state_dir) > durable


def load_state_seq(state_dir: Path) -> int:
    from tradeexecutor.store.paths import StatePaths

    return load_state(StatePaths(state_dir, "default")).last_event_seq


def _limit_file_size(limit: int) -> Callable[[], None]:
    def set_limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


def test_file_size_limit_efbig_never_leaves_a_snapshot_ahead_of_the_log(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    command = [sys.executable, "-m", "tradeexecutor.cli.main", "start", "--state-dir", str(state_dir)]
    first = subprocess.run([*command, "--max-cycles", "40"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    log = state_dir / "default.events.jsonl"
    limit = log.stat().st_size + 150_000
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(limit)
    )
    durable = _last_seq(log)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"error: file size limit reached while writing {log}: raise the limit (ulimit -f) or free space, "
        f"then rerun; nothing was lost up to seq {durable}\n"
    )
    assert log.read_bytes().endswith(b"\n")  # cut back to a whole record
    assert not list(state_dir.glob("*.tmp"))
    assert orjson.loads((state_dir / "default.json").read_bytes())["last_event_seq"] <= durable
    again = subprocess.run([*command, "--max-cycles", "5"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert load_state_seq(state_dir) > durable


def test_repair_on_a_full_disk_says_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store, scenario = _store_with_history(tmp_path)
    store.close()
    paths = store.paths
    with open(paths.log, "ab") as handle:
        handle.write(b'{"seq":99,"torn')
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def copy_until_full(source: Any, target: Any) -> None:
        Path(target).write_bytes(Path(source).read_bytes()[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(repair_log.shutil, "copyfile", copy_until_full)
    plan = plan_log_repair(paths)
    assert plan is not None
    with pytest.raises(RepairError) as caught:
        apply_log_repair(plan)
    assert str(caught.value).startswith(
        f"the disk is full while backing up {paths.log.name} into {tmp_path}/t.backup-"
    )
    assert str(caught.value).endswith(": free space and run repair again; nothing was changed")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # the partial backup is gone
    assert main(["repair", "--state-dir", str(tmp_path), "--id", "t", "--auto-approve"]) == 2
    assert capsys.readouterr().err.startswith("error: the disk is full while backing up t.events.jsonl")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
