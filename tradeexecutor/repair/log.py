"""Repair of a damaged event log, at the file level: plan first, back up, then truncate.

Start-up refuses a torn or corrupt log rather than skipping a record silently. This module is
what the operator runs next: it finds the first record that the store's own verification refuses
(torn line, checksum, JSON, sequence gap, or an event the reducer does not accept), says exactly
what would be kept and dropped, and only then, after copying the files to a backup folder,
truncates the log to its last good record. The log is the truth, so the snapshot, a cache, is set
aside whenever it no longer agrees with the repaired log; start-up rebuilds it.

Damage in the middle of the log (good records after a bad one) is salvaged where that is safe
(`repair.salvage`: the damaged lines are dropped and the records after them kept while each one
still applies; CRLF line ends are normalised). Where it is not, truncating there loses those
records, and the caller must get an explicit confirmation before applying the plan.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tradeexecutor.clock import wall_clock
from tradeexecutor.repair.salvage import SalvagePlan, plan_salvage, seq_range, write_salvaged
from tradeexecutor.state.codec import decode_event
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.errors import CorruptLog, CorruptSnapshot, StoreError
from tradeexecutor.store.eventlog import GENESIS, EventLog, chain_of, verify_line
from tradeexecutor.store.fsync import fsync_dir
from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import Seal, unseal
from tradeexecutor.store.snapshot import dump_state, load_snapshot, parse_state


class RepairError(StoreError):
    """Repair cannot go on (no log, files changed under it, a resolver failed); the CLI prints it."""


FileStamp = tuple[int, int] | None  # (size, mtime_ns), or None when the file does not exist


def _stamp(path: Path) -> FileStamp:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_size, info.st_mtime_ns


@dataclass(slots=True)
class LogRepairPlan:
    """What a repair would do to one executor's files; nothing is changed until it is applied.

    `kept_records` records (bytes `0..kept_bytes` once repaired) stay; `dropped_bytes` bytes from
    line `damaged_line` on are cut. `add_newline` means the last record verifies and only lost its
    line end: the newline is added and nothing is dropped. `later_records` counts the lines after
    the damaged one that pass their own checksum, and `damaged_record_intact` says the damaged line
    itself does (a record the reducer refuses, or the one after a sequence gap): truncating loses
    real records then, hence the confirmation.
    """

    paths: StatePaths
    log_size: int
    kept_records: int
    kept_bytes: int
    damaged_line: int | None = None
    damaged_offset: int | None = None
    problem: str | None = None
    dropped_bytes: int = 0
    add_newline: bool = False
    later_lines: int = 0
    later_records: int = 0
    damaged_record_intact: bool = False
    snapshot_seq: int | None = None
    snapshot_problem: str | None = None
    log_stamp: FileStamp = None
    snapshot_stamp: FileStamp = None
    #: Drop the damaged lines and keep the good records after them, instead of the cut above.
    salvage: SalvagePlan | None = None
    #: The cut without salvage, for the operator to compare (set when `salvage` is).
    truncation: str | None = None
    #: Why the records after the damage cannot be kept (the salvage was tried and refused).
    no_salvage: str | None = None
    #: The state rebuilt from the records that are kept: what start-up will see after the repair.
    state: State = field(default_factory=State, repr=False, compare=False)

    @property
    def changes_log(self) -> bool:
        return self.add_newline or self.dropped_bytes > 0 or self.salvage is not None

    @property
    def lost_records(self) -> int:
        """Records passing their checksum that the cut drops (they stay in the backup)."""
        if self.salvage is not None:
            return self.salvage.lost_good
        return 0 if self.add_newline else self.later_records + self.damaged_record_intact

    @property
    def needs_confirmation(self) -> bool:
        """True when the cut drops more than a broken record: damage in the middle, data loss.
        A salvage that keeps every record after the damage drops only the damaged lines; one that
        drops records passing their checksum (cut, or covered by the snapshot) is asked for."""
        if self.salvage is not None:
            return self.salvage.lost_good > 0
        return self.later_lines > 0 or self.lost_records > 0

    def summary(self) -> str:
        """One line: the cut (or the newline) in the words the operator sees."""
        if self.salvage is not None:
            return f"salvage: {self.salvage.describe()}"
        if self.kept_records:
            keep = f"keep records 1..{self.kept_records} (bytes 0..{self.kept_bytes})"
        else:
            keep = f"keep no records (bytes 0..{self.kept_bytes})"
        if self.add_newline:
            return f"{keep}, add the missing line end to line {self.damaged_line}: {self.problem}"
        if self.dropped_bytes:
            return f"{keep}, drop {self.dropped_bytes} bytes from line {self.damaged_line}: {self.problem}"
        return f"{keep}: the log is intact"

    def describe(self) -> list[str]:
        """The whole plan, line by line, for the operator to read before saying yes."""
        lines = [self.summary()]
        if self.salvage is not None:
            return lines + self._describe_salvage(self.salvage) + self._describe_files()
        if self.no_salvage is not None:
            lines.append(f"{self.no_salvage}; truncate at seq {self.kept_records + 1} instead")
        if self.later_lines:
            lines.append(
                f"DATA LOSS: the damage is in the middle of the log; {self.later_lines} later line(s) "
                f"after line {self.damaged_line} would be dropped, {self.later_records} of them records "
                "that pass their checksum (they stay in the backup)"
            )
        if self.damaged_record_intact and not self.add_newline:
            lines.append(
                f"DATA LOSS: line {self.damaged_line} itself passes its checksum: it is a real record, "
                "dropped because it cannot follow the records before it (it stays in the backup)"
            )
        return lines + self._describe_files()

    def _describe_salvage(self, salvage: SalvagePlan) -> list[str]:
        lines = []
        dropped = salvage.dropped_seqs
        if dropped:
            lines.append(
                f"a log_repair_applied event takes the place of the dropped record(s) and lists them "
                f"({seq_range(dropped)}; the damaged text stays in the backup)"
            )
        if salvage.restored:
            lines.append(
                f"the snapshot at seq {salvage.snapshot_seq} saw the dropped record(s): a second log_repair_applied "
                "after its record restores its state, so balances and positions are what they were"
            )
        elif salvage.snapshot_seq is not None:
            lines.append(
                f"the snapshot at seq {salvage.snapshot_seq} covers the damage, and the state rebuilt without the "
                "dropped record(s) equals it there: nothing to restore"
            )
        if salvage.lost_good:
            lines.append(
                f"DATA LOSS: {salvage.lost_good} record(s) that pass their checksum are dropped from the log "
                "(they stay in the backup)"
            )
        if self.truncation is not None:
            lines.append(f"(without salvage: {self.truncation})")
        return lines

    def _describe_files(self) -> list[str]:
        lines = []
        name = self.paths.snapshot.name
        if self.snapshot_problem is not None:
            rebuilt = "the repair writes a new one" if self.salvage is not None else "start-up rebuilds it from the log"
            lines.append(f"snapshot {name}: set aside into the backup folder ({self.snapshot_problem}); {rebuilt}")
        elif self.snapshot_seq is not None:
            lines.append(f"snapshot {name} (at event {self.snapshot_seq}): kept, it agrees with the log")
        else:
            lines.append(f"snapshot {name}: none; start-up builds the state from the log")
        copied = self.paths.log.name + (" and " + name if self.snapshot_stamp is not None else "")
        lines.append(f"backup: {copied} copied to {self.paths.executor_id}.backup-<UTC time>/ first")
        return lines


@dataclass(slots=True)
class LogRepairResult:
    backup_dir: Path
    actions: list[str]


def plan_log_repair(paths: StatePaths) -> LogRepairPlan | None:
    """Verify the log record by record (checksum, sequence, decoding, the reducer) and the
    snapshot against it; None when both are healthy, else the plan that makes them so."""
    if not paths.log.exists():
        raise RepairError(
            f"no event log {paths.log}: repair works from the log, and there is none to repair"
        )
    log_stamp, snapshot_stamp = _stamp(paths.log), _stamp(paths.snapshot)
    snapshot_seq, snapshot_bytes, snapshot_problem = _read_snapshot(paths)
    snapshot_bytes, seal = unseal(snapshot_bytes) if snapshot_bytes is not None else (None, None)
    log = EventLog.of(paths)
    state = State()
    kept_records = kept_bytes = 0
    chain: bytes | None = GENESIS if log.format() != 1 else None  # the last kept record's
    snapshot_chain: bytes | None = GENESIS
    damage: tuple[int, int, str] | None = None  # line, offset, problem
    snapshot_matches: bool | None = None
    if snapshot_seq == 0:
        snapshot_matches = dump_state(state) == snapshot_bytes
    with contextlib.closing(log.scan(after_seq=0)) as records:
        try:
            for record in records:
                assert record.event is not None
                try:
                    apply(state, record.event, record.seq)
                except InvalidEvent as exc:
                    damage = (record.seq, record.offset, f"the event does not apply: {exc}")
                    break
                kept_records, kept_bytes, chain = record.seq, record.end, record.chain
                if record.seq == snapshot_seq:
                    snapshot_matches, snapshot_chain = dump_state(state) == snapshot_bytes, chain
        except CorruptLog as exc:
            damage = (exc.line_number, exc.offset, exc.problem)

    plan = LogRepairPlan(
        paths,
        log_size=log_stamp[0] if log_stamp else 0,
        kept_records=kept_records,
        kept_bytes=kept_bytes,
        snapshot_seq=snapshot_seq,
        log_stamp=log_stamp,
        snapshot_stamp=snapshot_stamp,
        state=state,
    )
    if damage is not None:
        line_number, offset, problem = damage
        plan.damaged_line, plan.damaged_offset, plan.problem = line_number, offset, problem
        damaged, plan.later_lines, plan.later_records = _read_tail(paths.log, offset, chain)
        plan.damaged_record_intact = _verifies(damaged, chain)
        plan.dropped_bytes = plan.log_size - kept_bytes
        if plan.later_lines == 0 and not damaged.endswith(b"\n"):
            restored = _restore_line_end(state, damaged, kept_records + 1, chain)
            if restored is None:
                plan.add_newline, plan.dropped_bytes = True, 0
                plan.kept_records, plan.kept_bytes = kept_records + 1, plan.log_size + 1
                plan.problem = "the record verifies; only its line end was lost"
                if plan.kept_records == snapshot_seq:
                    snapshot_matches = dump_state(state) == snapshot_bytes
                    snapshot_chain = chain_of(damaged + b"\n") if chain is not None else None
            elif restored:
                plan.problem = f"the record has no line end, and with one: {restored}"
                plan.damaged_record_intact = True

    if damage is not None and not plan.add_newline:
        written = _written_chain_at(log, snapshot_seq, seal)
        covering = snapshot_problem is None and _seal_problem(seal, written, snapshot_seq or 0) is None
        _offer_salvage(plan, snapshot_bytes if covering else None)
    if plan.salvage is not None:
        matches = snapshot_bytes is not None and plan.salvage.state_at_snapshot == snapshot_bytes
        snapshot_problem = (
            snapshot_problem
            or _snapshot_after_salvage(plan.salvage, snapshot_seq, matches)
            or (_seal_problem(seal, None, snapshot_seq) if snapshot_seq is not None else None)
        )
    elif snapshot_problem is None and snapshot_seq is not None:
        if snapshot_seq > plan.kept_records:
            snapshot_problem = (
                f"it is at event {snapshot_seq}, ahead of the {'repaired ' if damage else ''}log, "
                f"which ends at event {plan.kept_records}"
            )
        elif not snapshot_matches:
            snapshot_problem = f"it differs from the state rebuilt from the log at event {snapshot_seq}"
        else:
            snapshot_problem = _seal_problem(seal, snapshot_chain, snapshot_seq)
    plan.snapshot_problem = snapshot_problem
    if damage is None and snapshot_problem is None:
        return None
    return plan


def _written_chain_at(log: EventLog, seq: int | None, seal: Seal | None) -> bytes | None:
    """The chain value written on line `seq` of the (damaged) log, to hold a snapshot's seal
    against before its state may stand in for damaged records; None when it cannot be read."""
    if seq is None or seal is None:
        return None
    found = log.line_at(seq, seal.offset)
    if found is None:
        return None
    try:
        return chain_of(found[0].rstrip(b"\r\n") + b"\n")
    except ValueError:
        return None


def _offer_salvage(plan: LogRepairPlan, snapshot_bytes: bytes | None) -> None:
    """Attach the salvage to the plan when it keeps more than the cut (or only fixes CRLF).
    `snapshot_bytes` is the state of a snapshot that may stand in for damaged records: its seal
    (when it has one) is intact and agrees with the chain value on its line of the log."""
    paths = plan.paths
    with open(paths.log, "rb") as handle:
        handle.seek(plan.damaged_offset or 0)
        crlf = handle.readline().endswith(b"\r\n")
    if not plan.later_lines and not crlf:
        return
    snapshot: tuple[int, State] | None = None
    if snapshot_bytes is not None:
        try:
            state = parse_state(snapshot_bytes, paths.snapshot.name)
            snapshot = (state.last_event_seq, state)
        except CorruptSnapshot:
            snapshot = None
    salvage = plan_salvage(paths.log, snapshot)
    if not salvage.worthwhile:
        plan.no_salvage = salvage.why_not()
        return
    plan.truncation = plan.summary()
    plan.salvage, plan.state, plan.kept_records = salvage, salvage.state, salvage.total_records
    if not salvage.runs and salvage.refusal is None:
        plan.problem = f"its lines end in CRLF (\\r\\n), not LF, from line {plan.damaged_line} on"


def _snapshot_after_salvage(salvage: SalvagePlan, snapshot_seq: int | None, matches: bool) -> str | None:
    """Why the snapshot is set aside after the salvage, or None when it stays (before the change)."""
    if snapshot_seq is None:
        return None
    if snapshot_seq < salvage.first_change_seq and matches:
        return None
    if snapshot_seq < salvage.first_change_seq:
        return f"it differs from the state rebuilt from the log at event {snapshot_seq}"
    return (
        f"it is at event {snapshot_seq}, past the first record the salvage rewrites (seq "
        f"{salvage.first_change_seq})"
    )


def _seal_problem(seal: Seal | None, chain: bytes | None, seq: int) -> str | None:
    """Why start-up would refuse the snapshot's seal although its state matches the log."""
    if seal is None:
        return None
    if not seal.intact:
        return "it was changed after it was written (its digest does not match its contents)"
    if chain is not None and seal.chain != chain:
        return f"its chain value does not match the log's at event {seq}"
    return None


def _read_snapshot(paths: StatePaths) -> tuple[int | None, bytes | None, str | None]:
    """(last_event_seq, bytes, problem) of the snapshot; all None when there is no snapshot."""
    try:
        data = paths.snapshot.read_bytes()
        snapshot = load_snapshot(paths.snapshot)
    except FileNotFoundError:
        return None, None, None
    except CorruptSnapshot as exc:
        return None, None, f"unreadable: it {exc.problem}"
    if snapshot is None:
        return None, None, None
    return snapshot.last_event_seq, data, None


def _read_tail(path: Path, offset: int, chain: bytes | None) -> tuple[bytes, int, int]:
    """The damaged line at `offset`, how many lines follow it, and how many of those verify
    (each against the chain value written on the line before it; `chain` None: first format)."""
    later_lines = lost_records = 0
    with open(path, "rb", buffering=1 << 20) as handle:
        handle.seek(offset)
        damaged = handle.readline()
        previous = damaged
        for line in handle:
            later_lines += 1
            lost_records += _verifies(line, None if chain is None else _written_chain(previous))
            previous = line
    return damaged, later_lines, lost_records


def _written_chain(line: bytes) -> bytes:
    try:
        return chain_of(line)
    except ValueError:
        return b""  # nothing follows it validly


def _verifies(line: bytes, prev_chain: bytes | None) -> bool:
    try:
        verify_line(line, prev_chain)
    except ValueError:
        return False
    return True


def _restore_line_end(state: State, line: bytes, seq: int, prev_chain: bytes | None) -> str | None:
    """Try the last line with its line end put back: None if the record then verifies, decodes
    and applies (it is applied to `state`); otherwise the problem, or "" if it still fails the
    checksum (a genuinely torn write, already described as such)."""
    try:
        raw = verify_line(line + b"\n", prev_chain)
    except ValueError:
        return ""
    try:
        if raw.get("seq") != seq:
            return f"sequence number {raw.get('seq')!r} where {seq} was expected"
        event = decode_event(raw["type"], raw["at"], raw["data"])
        apply(state, event, seq)
    except KeyError as exc:
        return f"missing member {exc.args[0]!r}"
    except InvalidEvent as exc:
        return f"the event does not apply: {exc}"
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def apply_log_repair(plan: LogRepairPlan, clock: Callable[[], datetime] | None = None) -> LogRepairResult:
    """Back up, then truncate (or add the missing newline) and set the snapshot aside if needed.

    Holds the writer lock throughout, and refuses if either file changed since the plan was made,
    so a plan is never applied to files it did not look at. Every step is fsynced before the next,
    so a crash part-way leaves a state that start-up refuses and repair can plan again. If the
    backup cannot be written (a full disk), the partial backup is removed and nothing is changed.
    """
    paths = plan.paths
    lock = WriterLock(paths.lock)
    lock.acquire()
    try:
        if _stamp(paths.log) != plan.log_stamp or _stamp(paths.snapshot) != plan.snapshot_stamp:
            raise RepairError(
                f"{paths.log.name} or {paths.snapshot.name} changed since the repair was planned; "
                "run `trade-executor repair` again"
            )
        now = (clock or wall_clock)()
        backup, actions = _back_up(plan, now)
        set_aside = plan.snapshot_stamp is not None and plan.snapshot_problem is not None
        if set_aside and plan.salvage is None:
            _set_snapshot_aside(plan, backup, actions)
        backed_up = len(actions)
        try:
            if plan.salvage is not None:
                # Rewritten first: a full disk here leaves the log and the snapshot as they were.
                size = write_salvaged(paths.log, plan.salvage)
                actions.append(
                    f"rewrote {paths.log.name} ({size} bytes, {plan.salvage.total_records} records): "
                    f"{plan.salvage.describe()}"
                )
                if set_aside:
                    _set_snapshot_aside(plan, backup, actions)
            elif plan.add_newline:
                _append_newline(paths.log)
                actions.append(f"added the missing line end to line {plan.damaged_line} of {paths.log.name}")
            elif plan.dropped_bytes:
                _truncate(paths.log, plan.kept_bytes)
                actions.append(
                    f"truncated {paths.log.name} to {plan.kept_bytes} bytes (records 1..{plan.kept_records}), "
                    f"dropping {plan.dropped_bytes} bytes from line {plan.damaged_line}"
                )
            if (plan.salvage is not None or plan.dropped_bytes) and paths.equity.exists():
                # Derived from the log, which changed: the next start rebuilds it from the repaired log.
                os.replace(paths.equity, backup / paths.equity.name)
                fsync_dir(paths.state_dir)
                actions.append(f"moved {paths.equity.name} into {backup.name} (the next start rebuilds it from the log)")
        except OSError as exc:
            done = "; ".join(actions)
            unchanged = f"; {paths.log.name} is as it was" if plan.salvage is not None and len(actions) == backed_up else ""
            raise RepairError(f"{_os_problem(exc)} while repairing {paths.log}{unchanged}; so far: {done}") from None
        return LogRepairResult(backup, actions)
    finally:
        lock.release()


def _set_snapshot_aside(plan: LogRepairPlan, backup: Path, actions: list[str]) -> None:
    paths = plan.paths
    os.replace(paths.snapshot, backup / paths.snapshot.name)
    fsync_dir(backup)
    fsync_dir(paths.state_dir)
    actions.append(f"moved {paths.snapshot.name} into {backup.name} ({plan.snapshot_problem})")


def _os_problem(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    return exc.strerror or str(exc)


def _back_up(plan: LogRepairPlan, now: datetime) -> tuple[Path, list[str]]:
    """Copy the log (and a snapshot that stays) into a new backup folder, durably. On failure
    the partial folder is removed and RepairError says what happened: nothing was changed."""
    paths = plan.paths
    backup: Path | None = None
    try:
        backup = _make_backup_dir(paths, now)
        actions = []
        _copy_durably(paths.log, backup / paths.log.name)
        actions.append(f"copied {paths.log.name} ({plan.log_size} bytes) to {backup}")
        if plan.snapshot_stamp is not None and plan.snapshot_problem is None:
            _copy_durably(paths.snapshot, backup / paths.snapshot.name)
            actions.append(f"copied {paths.snapshot.name} to {backup.name}")
        fsync_dir(backup)
        fsync_dir(paths.state_dir)
    except OSError as exc:
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
        target = backup or paths.state_dir
        raise RepairError(
            f"{_os_problem(exc)} while backing up {paths.log.name} into {target}: "
            f"{'free space' if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 'fix that'} and run repair again; "
            "nothing was changed"
        ) from None
    return backup, actions


def _make_backup_dir(paths: StatePaths, now: datetime) -> Path:
    """`DIR/ID.backup-<UTC time>/`, never reusing an existing folder (two repairs in a second)."""
    base = f"{paths.executor_id}.backup-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    for attempt in range(1000):
        backup = paths.state_dir / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            backup.mkdir()
        except FileExistsError:
            continue
        fsync_dir(paths.state_dir)
        return backup
    raise RepairError(f"cannot create a backup folder {base} in {paths.state_dir}")


def _copy_durably(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_newline(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _truncate(path: Path, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
