"""Salvage of a damaged log: drop the damaged lines and keep the good records after them.

Truncating at the first damaged line is always safe but loses every record after it. When the
damage is a short run of lines with intact neighbours, the records after it can usually be kept.
What makes that safe is the reducer: the records after the damage are re-applied, in order, on
the state just before it, and kept only while each one applies. A record that depended on a
dropped one (a sell of what a dropped fill bought) is refused there, and the log is cut at it;
the plan says which record that is. Only lines that fail their checksum (or are torn, or are not
JSON) count as damage: a record whose checksum holds but that does not decode or apply (a newer
version's event type, an impossible value) is never dropped; the log is cut there as before.

When a snapshot covers the damage (its `last_event_seq` is at or past the damaged records and it
reads cleanly), its state saw the dropped records: the `log_repair_applied` event that marks the
drop then carries that state and is placed right after the snapshot's last record, so the money
after the repair is exactly what it was; records between the damage and the snapshot that no
longer apply are dropped too (the snapshot's state includes them).

Numbering: `seq` has no gaps, so one `log_repair_applied` event takes the place of each dropped
run and the kept records after it are renumbered (a run of one damaged line keeps every number).
The snapshot, whose `last_event_seq` refers to the old numbers, is set aside when it is past the
first change; the repair then writes a new one. Every line from the first change on is encoded
again through `encode_records`, chained on the line before it, so each line's chain value is the
one the log's encoder makes.

The log is hash-chained (`store/logline.py`): a line is checked against the chain value of the
line before it. Here that is the value written on the previous line, or the one computed for it
(`NeighbourCheck`), so a damaged line fails alone and its intact successor still verifies. A log of the
first format (a CRC per line) is checked line by line, and its salvaged copy is written chained.

CRLF line ends (a log edited on Windows) are not damage: a line whose checksum matches once its
`\\r` is stripped is good, and the rewrite writes LF.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeexecutor.state.codec import decode_event
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import Event, LogRepairApplied
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.eventlog import GENESIS, EventLog, chain_of, encode_lines
from tradeexecutor.store.fsync import fsync_dir
from tradeexecutor.store.logline import NeighbourCheck, body_of, seal
from tradeexecutor.store.snapshot import dump_state

#: The longest run of consecutive damaged lines that is dropped rather than cut at.
MAX_DAMAGED_RUN = 8
_EXCERPT = 80
_HEAD = re.compile(rb'^\{"seq":(\d{1,15}),"type":"([a-z_]{1,40})"')


@dataclass(slots=True)
class Dropped:
    """One dropped line: where it was, its text's digest and excerpt, and why it went."""

    line_number: int
    offset: int
    text: bytes
    problem: str
    seq: int | None = None  # what the line says, when it still says it
    type_name: str = "unknown"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text).hexdigest()

    @property
    def excerpt(self) -> str:
        shown = self.text.rstrip(b"\r\n").decode("utf-8", "replace")
        return shown if len(shown) <= _EXCERPT else shown[: _EXCERPT - 3] + "..."


@dataclass(slots=True)
class DroppedRun:
    """Damaged lines between two good records, and the records (by old seq) they held."""

    lines: list[Dropped]
    seqs: list[int]
    types: list[str]
    covered: bool = False  # a snapshot covers it: its state is restored after the covered records
    #: Intact records between the damage and the covering snapshot that no longer apply; dropped
    #: too, since the snapshot's state holds their effect.
    refused: list[Dropped] = field(default_factory=list)
    restored: bool = False  # a second log_repair_applied restores the snapshot's state after its record


@dataclass(slots=True)
class Refusal:
    """Where the salvage stops: the log is cut at this line (old numbering)."""

    line_number: int
    offset: int
    seq: int | None
    type_name: str
    problem: str


@dataclass(slots=True)
class SalvagePlan:
    """The log as the salvage would write it: its first `prefix_records` lines (bytes up to
    `prefix_end` of the old file) kept as they are but for CRLF ends, then `events` encoded
    again from seq `first_change_seq` on."""

    crlf_lines: int
    runs: list[DroppedRun]
    refusal: Refusal | None
    prefix_end: int
    prefix_records: int
    events: list[Event]
    kept_good: int  # records of the old log that stay, renumbered or not
    good_after_damage: int  # of those, the ones after the first damaged line
    lost_good: int  # records that verify but are dropped (by the cut, or covered and refused)
    snapshot_seq: int | None  # the covering snapshot's old seq, when one stood in
    old_seqs: list[int | None]  # per event: its seq before the repair (None: a repair event)
    state_at_snapshot: bytes | None  # the state at the snapshot's seq, when that is in `prefix`
    state: State = field(repr=False, default_factory=State)

    @property
    def total_records(self) -> int:
        return self.prefix_records + len(self.events)

    @property
    def first_change_seq(self) -> int:
        """The first seq whose line changes (old and new numbering agree before it)."""
        return self.prefix_records + 1

    @property
    def restored(self) -> bool:
        return any(run.restored for run in self.runs)

    @property
    def dropped_seqs(self) -> list[int]:
        """Old seqs of the dropped records (damaged, then covered ones that no longer applied)."""
        return [seq for run in self.runs for seq in run.seqs + [d.seq or 0 for d in run.refused]]

    @property
    def worthwhile(self) -> bool:
        """Keeps records that a cut at the first damage would drop, or only fixes line ends."""
        return self.good_after_damage > 0 or (self.crlf_lines > 0 and not self.runs and self.refusal is None)

    def why_not(self) -> str | None:
        """Why a salvage that keeps nothing more than the cut is not offered, or None."""
        if self.worthwhile or self.refusal is None or not self.runs:
            return None
        refused = self.refusal
        where = f"seq {refused.seq}" if refused.seq is not None else f"line {refused.line_number}"
        return (
            f"salvage is not safe: the record after the damage, {where} ({refused.type_name}, byte offset "
            f"{refused.offset}): {refused.problem}"
        )

    def describe(self) -> str:
        """The plan in one sentence, in the operator's words."""
        parts: list[str] = []
        if self.crlf_lines:
            parts.append(
                f"{self.crlf_lines:,} line(s) end in CRLF, and their checksums match without the \\r: "
                "rewrite them with LF"
            )
        runs = []
        for run in self.runs:
            first = run.lines[0]
            what = "one damaged line" if len(run.lines) == 1 else f"{len(run.lines)} damaged lines"
            covered = f", which the snapshot at seq {self.snapshot_seq} covers" if run.covered else ""
            runs.append(f"{what} at {seq_range(run.seqs)} (byte offset {first.offset}){covered}")
        if runs:
            it = "it" if len(self.runs) == 1 and len(self.runs[0].lines) == 1 else "them"
            refused = [d for run in self.runs for d in run.refused]
            if refused:
                how = (
                    f"re-applied; {len(refused)} no longer applied without the dropped record(s) "
                    f"({seq_range([d.seq or 0 for d in refused])}): dropped too, their effect "
                    "is in the snapshot's state"
                )
            elif self.refusal is None:
                how = "all re-applied cleanly"
            else:
                how = "each re-applied on the state before the damage"
            some = f"{self.good_after_damage:,} of " if refused else ""
            after = self.good_after_damage + len(refused)
            parts.append("; ".join(runs) + f": drop {it} and keep {some}the {after:,} records after {it} ({how})")
        if self.refusal is not None:
            cut = self.refusal
            where = f"seq {cut.seq}" if cut.seq is not None else f"line {cut.line_number}"
            parts.append(f"then truncate at {where} ({cut.type_name}, byte offset {cut.offset}): {cut.problem}")
        renumbered = f", renumbered from seq {self.renumbered_from}" if self.renumbered_from else ""
        return "; ".join(parts) + f" ({self.total_records:,} records after the repair{renumbered})"

    @property
    def renumbered_from(self) -> int | None:
        """The first new seq whose record had another number before, or None."""
        for new_seq, old_seq in enumerate(self.old_seqs, start=self.first_change_seq):
            if old_seq is not None and old_seq != new_seq:
                return new_seq
        return None


def seq_range(seqs: Sequence[int]) -> str:
    if not seqs:
        return "no seq"
    if len(seqs) == 1:
        return f"seq {seqs[0]}"
    return f"seqs {seqs[0]}..{seqs[-1]}" if list(seqs) == list(range(seqs[0], seqs[-1] + 1)) else "seqs " + ", ".join(
        map(str, seqs)
    )


@dataclass(slots=True)
class _Line:
    number: int
    offset: int
    text: bytes  # as in the file
    lf: bytes  # with a CRLF end made LF
    seq: int | None = None
    event: Event | None = None
    problem: str | None = None
    intact: bool = False  # passes its checksum (it may still not decode)


def _classify(number: int, offset: int, text: bytes, chain: NeighbourCheck) -> _Line:
    lf = text[:-2] + b"\n" if text.endswith(b"\r\n") else text
    line = _Line(number, offset, text, lf)
    try:
        raw = chain.verify(lf)
        line.intact = True
        seq = raw["seq"]
        if type(seq) is not int:
            raise ValueError(f"sequence number {seq!r} is not an integer")
        line.event = decode_event(raw["type"], raw["at"], raw["data"])
        line.seq = seq
    except KeyError as exc:
        line.problem = f"missing member {exc.args[0]!r}"
    except ValueError as exc:  # SerialisationError is one
        line.problem = str(exc)
    return line


def _dropped(line: _Line, problem: str | None = None) -> Dropped:
    head = _HEAD.match(line.lf)
    dropped = Dropped(line.number, line.offset, line.text, problem or line.problem or "")
    if head is not None:
        dropped.seq, dropped.type_name = int(head.group(1)), head.group(2).decode()
    if line.event is not None:
        dropped.seq, dropped.type_name = line.seq, line.event.type_name
    return dropped


class _Walk:
    """Re-applies the log line by line and builds the salvaged log."""

    def __init__(self, snapshot: tuple[int, State] | None, check_seq: int | None) -> None:
        self.state = State()
        self.snapshot = snapshot
        self.check_seq = check_seq
        self.state_at_check: bytes | None = None  # the state at `check_seq`, if it is in the prefix
        self.prefix_records = self.prefix_end = 0
        self.events: list[Event] = []
        self.old_seqs: list[int | None] = []
        self.runs: list[DroppedRun] = []
        self.pending: list[_Line] = []
        self.covering: DroppedRun | None = None  # dropped, waiting for the snapshot's seq
        self.last_seq = 0
        self.kept_good = self.good_after_damage = self.lost_good = self.crlf = 0
        self.refusal: Refusal | None = None

    def stop(self, line: _Line, problem: str) -> bool:
        dropped = _dropped(line)
        self.refusal = Refusal(line.number, line.offset, dropped.seq, dropped.type_name, problem)
        return False

    def feed(self, line: _Line) -> bool:
        """Take the next line; False once the walk stopped (the log is cut at `refusal`)."""
        if line.event is None and line.intact:
            # Its checksum holds: not damage but a record this version cannot read (a newer
            # version's event type, an impossible value). Dropping it could lose real money.
            return self.stop(line, line.problem or "the record does not decode")
        if line.event is None:
            self.pending.append(line)
            if len(self.pending) > MAX_DAMAGED_RUN:
                first = self.pending[0]
                return self.stop(first, f"more than {MAX_DAMAGED_RUN} damaged lines in a row from here: {first.problem}")
            return True
        assert line.seq is not None
        self.crlf += line.text.endswith(b"\r\n")
        if self.pending:
            if not self._close_run(line):
                return False
        elif line.seq != self.last_seq + 1:
            return self.stop(line, f"sequence number {line.seq} where {self.last_seq + 1} was expected")
        try:
            apply(self.state, line.event, self.state.last_event_seq + 1)
        except InvalidEvent as exc:
            if self.covering is None:
                return self.stop(line, f"it no longer applies without the dropped record(s): {exc.problem}")
            # Covered by the snapshot, whose state already holds this record's effect.
            self.covering.refused.append(_dropped(line, f"no longer applies: {exc.problem}"))
            self.lost_good += 1
        else:
            self.kept_good += 1
            if self.runs:
                self.good_after_damage += 1
                self.events.append(line.event)
                self.old_seqs.append(line.seq)
            else:
                self.prefix_records += 1
                self.prefix_end = line.offset + len(line.text)
                if line.seq == self.check_seq:
                    self.state_at_check = dump_state(self.state)
        self.last_seq = line.seq
        if self.covering is not None and self.snapshot is not None and line.seq >= self.snapshot[0]:
            self._restore(line.event.at)
        return True

    def _close_run(self, line: _Line) -> bool:
        """The damaged lines before `line` become one dropped run; False if they cannot."""
        assert line.seq is not None and line.event is not None
        first = self.pending[0]
        if line.seq <= self.last_seq:
            return self.stop(first, f"{first.problem}, and the next good record, seq {line.seq}, does not follow seq {self.last_seq}")
        if self.state.created_at is None:
            return self.stop(first, f"{first.problem} (the first record: nothing before it to build on)")
        lines = [_dropped(p) for p in self.pending]
        self.pending = []
        seqs = list(range(self.last_seq + 1, line.seq))
        named = {d.seq: d.type_name for d in lines if d.seq is not None}
        run = DroppedRun(lines, seqs, [named.get(seq, "unknown") for seq in seqs])
        at = line.event.at
        self.runs.append(run)
        self._append_repair(run.seqs, run.types, run.lines, f"damaged line(s) dropped ({lines[0].problem})", None, at)
        if self.snapshot is None or self.snapshot[0] <= self.last_seq:
            return True
        run.covered = True
        if self.covering is None:
            self.covering = run
        if self.snapshot[0] < line.seq:  # the damage reaches the snapshot's own record
            self._restore(at)
        return True

    def _restore(self, at: Any) -> None:
        """At the covering snapshot's record: if the state rebuilt without the dropped records
        differs from the snapshot's (or covered records were refused), restore the snapshot's."""
        assert self.covering is not None and self.snapshot is not None
        run, self.covering = self.covering, None
        seq, snapshot = self.snapshot
        saved, snapshot.last_event_seq = snapshot.last_event_seq, self.state.last_event_seq
        try:
            same = dump_state(snapshot) == dump_state(self.state)
        finally:
            snapshot.last_event_seq = saved
        if same and not run.refused:
            return
        dropped = [s for r in self.runs if r.covered for s in r.seqs]
        reason = f"the snapshot at seq {seq} saw the dropped record(s) (seqs {', '.join(map(str, dropped))}): its state is restored here"
        if run.refused:
            reason += f"; {len(run.refused)} record(s) after them no longer applied without them and are dropped"
        refused = run.refused
        self._append_repair([d.seq or 0 for d in refused], [d.type_name for d in refused], refused, reason, snapshot, at)
        run.restored = True

    def _append_repair(
        self,
        seqs: Sequence[int],
        types: Sequence[str],
        lines: Sequence[Dropped],
        reason: str,
        restored: State | None,
        at: Any,
    ) -> None:
        event = LogRepairApplied(
            at,
            tuple(seqs),
            tuple(types),
            tuple(d.sha256 for d in lines),
            tuple(d.excerpt for d in lines),
            reason,
            "" if restored is None else dump_state(restored).decode(),
        )
        apply(self.state, event, self.state.last_event_seq + 1)
        self.events.append(event)
        self.old_seqs.append(None)


def plan_salvage(log: Path, snapshot: tuple[int, State] | None) -> SalvagePlan:
    """Walk the whole log (CRLF ends accepted) and plan what the salvage keeps. `snapshot` is
    (last_event_seq, state) of a snapshot that reads cleanly, or None."""
    check_seq = None if snapshot is None else snapshot[0]
    if snapshot is not None and snapshot[0] > _last_good_seq(log):
        snapshot = None  # ahead of the log: it cannot stand in for records the log still holds
    walk = _Walk(snapshot, check_seq)
    offset = 0
    chain = _neighbour_check(log)
    with open(log, "rb", buffering=1 << 20) as handle:
        for number, text in enumerate(handle, start=1):
            line = _classify(number, offset, text, chain)
            offset += len(text)
            if not walk.feed(line):
                break
    if walk.refusal is None and walk.pending:  # damage at the very end: cut there
        first = walk.pending[0]
        walk.stop(first, first.problem or "damaged")
    lost = walk.lost_good
    if walk.refusal is not None:
        lost += _count_good_from(log, walk.refusal.offset)
    return SalvagePlan(
        crlf_lines=walk.crlf,
        runs=walk.runs,
        refusal=walk.refusal,
        prefix_end=walk.prefix_end,
        prefix_records=walk.prefix_records,
        events=walk.events,
        kept_good=walk.kept_good,
        good_after_damage=walk.good_after_damage,
        lost_good=lost,
        snapshot_seq=snapshot[0] if snapshot is not None and any(r.covered for r in walk.runs) else None,
        old_seqs=walk.old_seqs,
        state_at_snapshot=walk.state_at_check,
        state=walk.state,
    )


def _neighbour_check(log: Path) -> NeighbourCheck:
    return NeighbourCheck(chained=EventLog(log).format() != 1)


def _last_good_seq(log: Path) -> int:
    last = 0
    chain = _neighbour_check(log)
    with open(log, "rb", buffering=1 << 20) as handle:
        for text in handle:
            head = _HEAD.match(text)
            if _verifies(text, chain) and head is not None:
                last = max(last, int(head.group(1)))
    return last


def _verifies(text: bytes, chain: NeighbourCheck) -> bool:
    try:
        chain.verify(text[:-2] + b"\n" if text.endswith(b"\r\n") else text)
    except ValueError:
        return False
    return True


def _count_good_from(log: Path, offset: int) -> int:
    """The lines from `offset` on that verify and decode (each checked in file order from the
    first line, since a chained line is checked against the one before it)."""
    count = position = 0
    chain = _neighbour_check(log)
    with open(log, "rb", buffering=1 << 20) as handle:
        for text in handle:
            line = _classify(0, 0, text, chain)
            count += position >= offset and line.event is not None
            position += len(text)
    return count


def encode_records(previous_line: bytes | None, first_seq: int, events: Sequence[Event]) -> list[bytes]:
    """The log lines of `events` numbered from `first_seq`, after the line `previous_line`.

    The one place the salvage turns events into lines: through the log's own encoder, so a
    rewritten line is exactly what an append would have written.
    """
    prev_chain = GENESIS if previous_line is None else chain_of(previous_line)
    return [encode_lines(events, first_seq, prev_chain)]


def write_salvaged(log: Path, plan: SalvagePlan) -> int:
    """Write the salvaged log beside the old one and rename it over it (fsynced both ways).

    A failure (a full disk) removes the partial file and leaves the old log as it was."""
    temporary = log.with_name(log.name + ".repair-tmp")
    size = 0
    try:
        with open(log, "rb", buffering=1 << 20) as source, open(temporary, "wb", buffering=0) as target:
            previous: bytes | None = None
            chunk: list[bytes] = []
            rechain = EventLog(log).format() == 1  # a first-format log is written chained
            chain = GENESIS
            for _ in range(plan.prefix_records):  # the lines before the first change, LF-ended
                text = source.readline()
                previous = text[:-2] + b"\n" if text.endswith(b"\r\n") else text
                if rechain:
                    previous, chain = seal(body_of(previous), chain)
                chunk.append(previous)
                if len(chunk) >= 4096:
                    size += _write_all(target.fileno(), b"".join(chunk))
                    chunk = []
            chunk.extend(encode_records(previous, plan.first_change_seq, plan.events))
            size += _write_all(target.fileno(), b"".join(chunk))
            os.fsync(target.fileno())
        os.replace(temporary, log)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(log.parent)
    return size


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)
