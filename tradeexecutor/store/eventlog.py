"""The event log file: JSON Lines, one event a line, append-only, hash-chained (`store/logline.py`).

Reading comes in two speeds. `scan` verifies the whole log from its first line and yields its
records (repair, reports, re-deciding); `fold` verifies and applies the lines after a known point
(`LogMark`: a seq, the chain value of its line and where that line is) as fast as Python allows,
which is how start-up replays the tail after the snapshot and how `replay` rebuilds a state.
`line_at` finds one line by its seq without reading the lines before it.
"""

from __future__ import annotations

import contextlib
import os
from binascii import hexlify
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from tradeexecutor.state.codec import decode_event, event_decoders
from tradeexecutor.state.errors import InvalidEvent, SerialisationError
from tradeexecutor.state.events import Event
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.errors import CorruptLog, repair_hint
from tradeexecutor.store.fsync import fsync_dir
from tradeexecutor.store.logline import (
    CHAIN_PREFIX,
    CHAIN_TAIL,
    GENESIS,
    chain_of,
    encode_line,
    encode_lines,
    line_format,
    link,
    seal,
    seq_of,
    verify_line,
)
from tradeexecutor.store.paths import StatePaths

__all__ = [
    "GENESIS", "START", "EventLog", "LogMark", "LogRecord", "chain_of", "encode_line", "encode_lines", "seal",
    "verify_line",
]  # fmt: skip


@dataclass(slots=True, frozen=True)
class LogMark:
    """A point in a verified log: the last seq read, that line's chain value, the byte offset
    where that line starts and the offset just after it (where the next line starts)."""

    seq: int
    chain: bytes
    offset: int
    end: int


#: Before the first line.
START = LogMark(0, GENESIS, 0, 0)


@dataclass(slots=True)
class LogRecord:
    seq: int
    event: Event | None  # None only inside the log's own scan, for records it did not decode
    offset: int
    end: int
    chain: bytes | None = None  # the line's chain value; None in a log of the first format


_DECODERS: dict[str, Callable[[str, dict[str, Any]], Event]] = {}


def _problem(line: bytes, prev_chain: bytes | None, expected_seq: int) -> str:
    """Why a line is refused (the message of CorruptLog), or "" if it is not."""
    try:
        try:
            raw = verify_line(line, prev_chain)
        except ValueError:
            # A whole line with the wrong seq does not follow the chain either; the seq says why.
            found = seq_of(line) if prev_chain is not None and line.endswith(b"}\n") else None
            if found is not None and found != expected_seq:
                return _sequence_problem(found, expected_seq)
            raise
        gap = _sequence_problem(raw.get("seq"), expected_seq)
        if gap:
            return gap
        decode_event(raw["type"], raw["at"], raw["data"])
    except KeyError as exc:
        return f"missing member {exc.args[0]!r}"
    except SerialisationError as exc:  # the record verifies but does not decode
        return f"record seq {expected_seq}: {exc}"
    except ValueError as exc:
        return str(exc)
    return ""


def _sequence_problem(seq: Any, expected_seq: int) -> str:
    if seq == expected_seq and type(seq) is int:
        return ""
    if type(seq) is int and seq > expected_seq:
        return f"gap in sequence numbers: expected seq {expected_seq}, found {seq}"
    return f"sequence number {seq!r} where {expected_seq} was expected"


class EventLog:
    """Reads and appends one executor's log file. Not thread-safe; one writer holds the lock."""

    def __init__(self, path: Path, hint: str = "run `trade-executor repair` to fix it") -> None:
        self.path = path
        self.hint = hint

    @classmethod
    def of(cls, paths: StatePaths) -> EventLog:
        """The log of an executor, whose errors name the `repair` command for its files."""
        return cls(paths.log, repair_hint(paths.state_dir, paths.executor_id))

    def exists(self) -> bool:
        return self.path.exists()

    def _refuse(self, line: bytes, prev_chain: bytes | None, seq: int, offset: int) -> CorruptLog:
        problem = _problem(line, prev_chain, seq) or "the record does not decode"
        return CorruptLog(self.path, seq, offset, problem, self.hint)

    def format(self) -> int:
        """2 for a chained log, 1 for a log of the first format (a CRC per line), 0 when empty or
        absent (a new log is written chained)."""
        try:
            with open(self.path, "rb") as handle:
                first = handle.readline()
        except FileNotFoundError:
            return 0
        return 1 if line_format(first) == 1 else 2 if first else 0

    def records(self, after_seq: int = 0) -> Iterator[LogRecord]:
        """Yield verified records after `after_seq`, in order.

        Every line is checked (chain and sequence) even when it is before `after_seq`, so damage
        anywhere in the log is found; a damaged line raises CorruptLog, never passes silently.
        """
        for record in self.scan(after_seq):
            if record.event is not None:
                yield record

    def scan(self, after_seq: int = 0, until_seq: int | None = None) -> Generator[LogRecord, None, None]:
        """Verify every record from the first; decode (and set `event` on) only those after
        `after_seq` (and up to `until_seq` when given). Reads both formats."""
        last = until_seq if until_seq is not None else 2**63
        if not self.path.exists():
            return
        chained = self.format() != 1
        chain: bytes | None = GENESIS if chained else None
        offset = 0
        with open(self.path, "rb", buffering=1 << 20) as handle:
            for seq, line in enumerate(handle, start=1):
                try:
                    raw = verify_line(line, chain)
                    if raw.get("seq") != seq or type(raw["seq"]) is not int:
                        raise ValueError
                    event = decode_event(raw["type"], raw["at"], raw["data"]) if after_seq < seq <= last else None
                except (KeyError, ValueError):  # SerialisationError is a ValueError
                    raise self._refuse(line, chain, seq, offset) from None
                if chain is not None:
                    chain = link(chain, line[: len(line) - CHAIN_TAIL])
                end = offset + len(line)
                yield LogRecord(seq, event, offset, end, chain)
                offset = end

    def fold(self, state: State, mark: LogMark = START, until_seq: int | None = None) -> LogMark:
        """Verify the lines after `mark` (each against the chain value of the one before it) and
        apply their events to `state`, up to `until_seq` or the end; returns the last line's mark.

        `state` must be the log's state at `mark.seq`. A damaged line, a gap, a record that does
        not decode or an event the reducer refuses raises CorruptLog naming its line (the line
        number is the seq) and offset; the events before it stay applied. The loop is written
        out for speed: replay costs this per event, so the usual case makes no call it can avoid.
        """
        if not _DECODERS:
            _DECODERS.update(event_decoders())
        decoders, loads, tail, prefix = _DECODERS, orjson.loads, CHAIN_TAIL, CHAIN_PREFIX
        last = until_seq if until_seq is not None else 2**63
        seq, chain, line_offset, offset = mark.seq, mark.chain, mark.offset, mark.end
        if seq >= last:
            return mark
        try:
            handle = open(self.path, "rb", buffering=1 << 20)
        except FileNotFoundError:
            return mark
        with handle:
            handle.seek(offset)
            for line in handle:
                seq += 1
                length = len(line)
                size = length - tail
                digest = sha256(chain + line[:size]).digest()[:8]
                try:
                    if line[size:] != prefix + hexlify(digest) + b'"}\n':
                        raise ValueError
                    raw = loads(line)
                    number = raw["seq"]
                    if number != seq or type(number) is not int:
                        raise ValueError
                    event = decoders[raw["type"]](raw["at"], raw["data"])
                except Exception:
                    raise self._refuse(line, chain, seq, offset) from None
                try:
                    apply(state, event, seq)
                except InvalidEvent as exc:
                    problem = f"the event does not apply: {exc}"
                    raise CorruptLog(self.path, seq, offset, problem, self.hint) from None
                chain, line_offset = digest, offset
                offset += length
                if seq >= last:
                    break
        return LogMark(seq, chain, line_offset, offset)

    def line_at(self, seq: int, hint: int | None = None) -> tuple[bytes, int] | None:
        """The line whose seq is `seq` and its byte offset, without reading the lines before it:
        first at the offset `hint`, else searching back from the end of the file (lines are in
        seq order, so that reads only the lines after it). None when the log has no such line."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return None
        with handle:
            if hint is not None and hint >= 0:
                handle.seek(hint)
                line = handle.readline()
                if seq_of(line) == seq:
                    return line, hint
            position = handle.seek(0, os.SEEK_END)
            pending = b""  # the bytes from `position` up to the lines already looked at
            while True:
                cut = pending.rfind(b"\n", 0, len(pending) - 1)
                while cut >= 0 or (position == 0 and pending):
                    start = cut + 1
                    found = seq_of(pending[start:])
                    if found == seq:
                        return pending[start:], position + start
                    if found is not None and found < seq:
                        return None
                    pending = pending[:start]
                    cut = pending.rfind(b"\n", 0, len(pending) - 1) if start else -1
                if position == 0:
                    return None
                step = min(1 << 16, position)
                position -= step
                handle.seek(position)
                pending = handle.read(step) + pending

    def last_seq(self) -> int:
        """The seq of the last line that has one (0 for an empty log), read from the end."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return 0
        with handle:
            position = handle.seek(0, os.SEEK_END)
            pending = b""
            while position > 0:
                step = min(1 << 16, position)
                position -= step
                handle.seek(position)
                pending = handle.read(step) + pending
                lines = pending.split(b"\n")
                for line in reversed(lines[1:] if position else lines):
                    found = seq_of(line)
                    if found is not None:
                        return found
                pending = lines[0]
        return 0

    def append_lines(self, lines: Sequence[bytes], fsync: bool = True) -> int:
        """Append encoded lines with one write and one fsync (and fsync the folder for a new file).

        If the write or the fsync fails (a full disk, the file size limit, an I/O error), the file
        is cut back to its size before the call, so it ends at its last whole record, and the
        OSError is raised. A cut that fails too leaves a torn tail, which start-up refuses and
        `repair` removes.
        """
        if not lines:
            return 0
        data = b"".join(lines)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if fsync:
                    os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                raise
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)
        return len(data)

