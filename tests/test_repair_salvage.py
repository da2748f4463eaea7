"""`trade-executor repair` salvages the good records after damage in the middle of the log: the
damaged lines are dropped (a `log_repair_applied` event lists them), the records after them are
kept while each still applies, a covering snapshot's state stands in for what was dropped, and a
CRLF log loses nothing."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tradeexecutor.cli.main import main
from tradeexecutor.repair import salvage
from tradeexecutor.repair.log import RepairError, plan_log_repair
from tradeexecutor.repair.run import RepairOptions, run_repair
from tradeexecutor.state.events import Event
from tradeexecutor.store.logline import body_of
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import StateStore, load_state
from tradeexecutor.testing.scenario import Scenario

ID = "t"


def write_log(folder: Path, events: Iterator[Event], snapshot: bool) -> StatePaths:
    scenario_store = StateStore(folder, ID).open()
    for event in events:
        scenario_store.record([event])
    scenario_store.close(snapshot=snapshot)
    return scenario_store.paths


def live_like(folder: Path, cycles: int = 1500, snapshot: bool = False) -> StatePaths:
    """A log of 3,000+ records: every cycle observes the market, every 20th also trades."""
    scenario = Scenario()
    return write_log(folder, iter([*scenario.setup(), *scenario.cycles(cycles)]), snapshot)


def round_trips(folder: Path, count: int = 300, snapshot: bool = False) -> StatePaths:
    """A log that is mostly trades: every record depends on the ones before it."""
    scenario = Scenario()
    return write_log(folder, iter([*scenario.setup(), *scenario.closed_positions(count)]), snapshot)


def flip_byte(paths: StatePaths, line_index: int, into: int = 50) -> tuple[bytes, int]:
    """Flip one bit of one byte inside line `line_index` (0-based); the damaged line and its offset."""
    data = bytearray(paths.log.read_bytes())
    lines = bytes(data).splitlines(keepends=True)
    offset = sum(len(line) for line in lines[:line_index])
    data[offset + into] ^= 0x01
    paths.log.write_bytes(bytes(data))
    return bytes(data[offset : offset + len(lines[line_index])]), offset


def middle_line(paths: StatePaths, type_name: str) -> int:
    lines = paths.log.read_bytes().splitlines()
    return next(i for i in range(len(lines) // 2, len(lines)) if orjson.loads(lines[i])["type"] == type_name)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def repair(folder: Path, *flags: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["repair", "--state-dir", str(folder), "--id", ID, *flags])
    return code, capsys.readouterr().out


def records(paths: StatePaths) -> list[dict[str, Any]]:
    """The log's records without their chain values (a rewritten line re-chains every later one)."""
    return [{k: v for k, v in orjson.loads(line).items() if k != "chain"} for line in paths.log.read_bytes().splitlines()]


def test_one_flipped_byte_in_the_middle_keeps_every_good_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = live_like(tmp_path)
    original = paths.log.read_bytes().splitlines(keepends=True)
    assert len(original) >= 3000
    index = middle_line(paths, "market_observed")
    seq = index + 1
    damaged, offset = flip_byte(paths, index)
    before = digests(tmp_path)

    code, dry = repair(tmp_path, "--dry-run", capsys=capsys)
    assert code == 1
    after = len(original) - seq
    assert (
        f"salvage: one damaged line at seq {seq} (byte offset {offset}): drop it and keep the {after:,} records "
        f"after it (all re-applied cleanly) ({len(original):,} records after the repair)"
    ) in dry
    assert f"(without salvage: keep records 1..{seq - 1} (bytes 0..{offset})" in dry
    assert digests(tmp_path) == before  # byte-identical: nothing written, no backup

    code, out = repair(tmp_path, "--auto-approve", capsys=capsys)  # no data loss: not asked
    assert code == 0, out
    assert "repaired: the state is healthy" in out
    repaired = paths.log.read_bytes().splitlines(keepends=True)
    # Every good record is kept, byte for byte and under its own number; one line replaced (the
    # lines after it keep their bytes up to the chain value, which links them to the new line).
    assert len(repaired) == len(original)
    assert repaired[:index] == original[:index]
    assert [body_of(x) for x in repaired[index + 1 :]] == [body_of(x) for x in original[index + 1 :]]
    marker = orjson.loads(repaired[index])
    assert (marker["seq"], marker["type"]) == (seq, "log_repair_applied")
    assert marker["data"]["dropped_seqs"] == [seq]
    assert marker["data"]["dropped_types"] == ["market_observed"]
    assert marker["data"]["dropped_lines_sha256"] == [hashlib.sha256(damaged).hexdigest()]
    assert marker["data"]["dropped_excerpts"][0].startswith(f'{{"seq":{seq},"type":"market_observed"')
    assert "checksum mismatch" in marker["data"]["reason"] and marker["data"]["restored_state"] == ""
    [backup] = tmp_path.glob(f"{ID}.backup-*")
    assert (backup / paths.log.name).read_bytes().splitlines(keepends=True)[index] == damaged
    assert main(["replay", "--state-dir", str(tmp_path), "--id", ID]) == 0
    assert load_state(paths).last_event_seq == len(original)


def test_a_dropped_record_that_later_ones_need_cuts_at_the_first_that_no_longer_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping a `cycle_completed` keeps the trades after it, up to the next cycle, which no
    longer follows; the log is cut there, and the plan says so."""
    paths = round_trips(tmp_path)
    original = records(paths)
    index = middle_line(paths, "cycle_completed")
    seq = index + 1
    cut = next(r for r in original[index + 1 :] if r["type"] == "cycle_completed")
    cycle = original[index]["data"]["cycle"]
    flip_byte(paths, index)
    cut_offset = sum(len(line) for line in paths.log.read_bytes().splitlines(keepends=True)[: cut["seq"] - 1])

    code, dry = repair(tmp_path, "--dry-run", capsys=capsys)
    assert code == 1
    kept_after = cut["seq"] - seq - 1
    assert (
        f"drop it and keep the {kept_after} records after it (each re-applied on the state before the damage); "
        f"then truncate at seq {cut['seq']} (cycle_completed, byte offset {cut_offset}): it no longer applies "
        f"without the dropped record(s): cycle {cycle + 1} does not follow {cycle - 1}"
    ) in dry
    lost = len(original) - cut["seq"] + 1
    assert f"DATA LOSS: {lost} record(s) that pass their checksum are dropped from the log" in dry

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, out = repair(tmp_path, "--auto-approve", capsys=capsys)  # data loss: asked, no answer is no
    assert code == 1 and "--accept-data-loss" in out
    code, out = repair(tmp_path, "--auto-approve", "--accept-data-loss", capsys=capsys)
    assert code == 0, out
    kept = records(paths)
    assert len(kept) == cut["seq"] - 1
    assert kept[index]["type"] == "log_repair_applied" and kept[index]["data"]["dropped_seqs"] == [seq]
    assert kept[index + 1 :] == original[index + 1 : cut["seq"] - 1]
    assert main(["replay", "--state-dir", str(tmp_path), "--id", ID]) == 0


def test_a_dropped_fill_without_a_snapshot_is_not_salvaged_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = round_trips(tmp_path)
    original = records(paths)
    index = middle_line(paths, "order_submitted")
    seq = index + 1
    flip_byte(paths, index)

    code, dry = repair(tmp_path, "--dry-run", capsys=capsys)
    assert code == 1
    assert (
        f"salvage is not safe: the record after the damage, seq {seq + 1} (fill_received, byte offset "
    ) in dry
    assert f"it no longer applies without the dropped record(s): trade {original[index]['data']['trade_id']} is planned" in dry
    assert f"; truncate at seq {seq} instead" in dry
    plan = plan_log_repair(paths)
    assert plan is not None and plan.salvage is None and plan.kept_records == seq - 1


def test_a_snapshot_that_covers_the_damage_restores_the_money(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dropped record is an order's submission, which its fill needs: the snapshot (at the
    end of the log) saw both, so its state is restored and the balances stay what they were."""
    paths = round_trips(tmp_path, snapshot=True)
    original = records(paths)
    snapshot = orjson.loads(paths.snapshot.read_bytes())
    index = middle_line(paths, "order_submitted")
    seq = index + 1
    flip_byte(paths, index)

    plan = plan_log_repair(paths)
    assert plan is not None and plan.salvage is not None and plan.salvage.snapshot_seq == len(original)
    dropped = plan.salvage.dropped_seqs
    # The damaged line, then the fill that needs it and what needs the fill (the closing fill).
    assert dropped[:2] == [seq, seq + 1] and len(dropped) == 3
    refused = dropped[1:]
    code, dry = repair(tmp_path, "--dry-run", capsys=capsys)
    assert (
        f"one damaged line at seq {seq} (byte offset {plan.damaged_offset}), which the snapshot at seq "
        f"{len(original)} covers: drop it and keep {len(original) - seq - 2:,} of the {len(original) - seq:,} "
        f"records after it (re-applied; 2 no longer applied without the dropped record(s) (seqs "
        f"{refused[0]}, {refused[1]}): dropped too, their effect is in the snapshot's state)"
    ) in dry

    code, out = repair(tmp_path, "--auto-approve", "--accept-data-loss", capsys=capsys)
    assert code == 0, out
    kept = records(paths)
    assert len(kept) == len(original) - 1  # three records out, two log_repair_applied in
    marker, restore = kept[index], kept[-1]
    assert (marker["seq"], marker["type"], marker["data"]["dropped_seqs"]) == (seq, "log_repair_applied", [seq])
    assert marker["data"]["dropped_types"] == ["order_submitted"] and marker["data"]["restored_state"] == ""
    assert restore["type"] == "log_repair_applied" and restore["data"]["dropped_seqs"] == refused
    assert restore["data"]["dropped_types"] == [original[s - 1]["type"] for s in refused]
    assert restore["data"]["dropped_types"][0] == "fill_received"
    assert orjson.loads(restore["data"]["restored_state"])["last_event_seq"] == len(original)
    # Kept records are renumbered without gaps; the money equals the old snapshot's.
    assert [r["seq"] for r in kept] == list(range(1, len(kept) + 1))
    assert [(r["type"], r["data"]) for r in kept[index + 1 : -1]] == [
        (r["type"], r["data"]) for r in original[index:] if r["seq"] not in dropped
    ]
    repaired = orjson.loads(paths.snapshot.read_bytes())
    assert repaired["last_event_seq"] == len(kept)
    assert repaired["portfolio"] == snapshot["portfolio"] and repaired["assets"] == snapshot["assets"]
    assert main(["replay", "--state-dir", str(tmp_path), "--id", ID]) == 0


def test_an_edited_snapshot_does_not_stand_in_for_the_damage(tmp_path: Path) -> None:
    """A snapshot whose digest no longer matches its contents (a reserve edited by hand) could
    smuggle any state into the log: it is not used, and the plan falls back to the cut."""
    paths = round_trips(tmp_path, snapshot=True)
    index = middle_line(paths, "order_submitted")
    flip_byte(paths, index)
    raw = paths.snapshot.read_bytes()
    reserve = b'"USDT":"'
    at = raw.index(reserve, raw.index(b'"reserves"')) + len(reserve)
    paths.snapshot.write_bytes(raw[:at] + b"9" + raw[at:])

    plan = plan_log_repair(paths)
    assert plan is not None and plan.salvage is None and plan.kept_records == index
    assert plan.no_salvage is not None and plan.no_salvage.startswith("salvage is not safe")
    assert plan.snapshot_problem is not None  # set aside into the backup, as before


def test_crlf_line_ends_lose_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = round_trips(tmp_path, count=30, snapshot=True)
    data, snapshot = paths.log.read_bytes(), paths.snapshot.read_bytes()
    count = data.count(b"\n")
    paths.log.write_bytes(data.replace(b"\n", b"\r\n"))
    before = digests(tmp_path)

    code, dry = repair(tmp_path, "--dry-run", capsys=capsys)
    assert code == 1
    assert (
        f"salvage: {count} line(s) end in CRLF, and their checksums match without the \\r: rewrite them with LF "
        f"({count} records after the repair)"
    ) in dry
    assert f"snapshot {paths.snapshot.name} (at event {count}): kept, it agrees with the log" in dry
    assert digests(tmp_path) == before

    code, out = repair(tmp_path, "--auto-approve", capsys=capsys)
    assert code == 0, out
    assert paths.log.read_bytes() == data and paths.snapshot.read_bytes() == snapshot
    assert main(["replay", "--state-dir", str(tmp_path), "--id", ID]) == 0


def test_a_full_disk_during_the_rewrite_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = live_like(tmp_path, cycles=200, snapshot=True)
    flip_byte(paths, middle_line(paths, "market_observed"))
    log, snapshot = paths.log.read_bytes(), paths.snapshot.read_bytes()
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".repair-tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(salvage.os, "write", full)
    with pytest.raises(RepairError, match=f"the disk is full while repairing .*{paths.log.name} is as it was"):
        run_repair(paths, RepairOptions(auto_approve=True), ask=lambda question: False, say=lambda line: None)
    assert paths.log.read_bytes() == log and paths.snapshot.read_bytes() == snapshot
    assert not list(tmp_path.glob("*.repair-tmp"))
