"""The event log: JSON Lines, one event a line, append-only, each line with a CRC-32 checksum.

A line is the JSON object `{"seq":N,"type":T,"at":A,"data":{...},"crc":"xxxxxxxx"}` where `crc`
is the CRC-32 (8 hex digits) of the line's bytes before `,"crc"`. The line stays plain JSON for
`jq` and JavaScript, and the checksum is checked on the bytes as read, without re-serialising.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tradeexecutor.state.codec import decode_event, encode_head
from tradeexecutor.state.errors import SerialisationError
from tradeexecutor.state.events import Event
from tradeexecutor.store.errors import CorruptLog, repair_hint
from tradeexecutor.store.fsync import fsync_dir
from tradeexecutor.store.paths import StatePaths

_CRC_PREFIX = b',"crc":"'
_TAIL_LENGTH = len(_CRC_PREFIX) + 8 + 2  # ,"crc":"xxxxxxxx"}


def encode_line(seq: int, event: Event) -> bytes:
    """One log line, newline included. Raises SerialisationError for a value JSON cannot hold."""
    head = encode_head(seq, event)
    return b"%s%s%08x\"}\n" % (head, _CRC_PREFIX, zlib.crc32(head))


@dataclass(slots=True)
class LogRecord:
    seq: int
    event: Event | None  # None only inside the log's own scan, for records it did not decode
    offset: int
    end: int


def verify_line(line: bytes) -> dict[str, Any]:
    """Check a line's checksum and parse it; raises ValueError saying what is wrong."""
    if line[-1:] != b"\n":
        raise ValueError("the record is torn: it has no line end (the write was cut short)")
    size = len(line) - _TAIL_LENGTH - 1
    if size <= 0 or line[size : size + 8] != _CRC_PREFIX or line[-3:] != b'"}\n':
        raise ValueError("the record has no checksum at its end")
    try:
        expected = int(line[size + 8 : size + 16], 16)
    except ValueError:
        raise ValueError("the record's checksum is not hexadecimal") from None
    actual = zlib.crc32(memoryview(line)[:size])
    if actual != expected:
        raise ValueError(f"checksum mismatch (stored {expected:08x}, computed {actual:08x})")
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the record is not valid JSON: {exc}") from None
    if type(record) is not dict:
        raise ValueError("the record is not a JSON object")
    return record


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

    def records(self, after_seq: int = 0) -> Iterator[LogRecord]:
        """Yield verified records after `after_seq`, in order.

        Every line is checked (checksum and sequence) even when it is before `after_seq`, so damage
        anywhere in the log is found; a damaged line raises CorruptLog, never passes silently.
        """
        for record in self.scan(after_seq):
            if record.event is not None:
                yield record

    def scan(self, after_seq: int = 0, until_seq: int | None = None) -> Generator[LogRecord, None, None]:
        """Verify every record; decode (and set `event` on) only those after `after_seq` (and up
        to `until_seq` when given)."""
        last = until_seq if until_seq is not None else 2**63
        if not self.path.exists():
            return
        expected_seq = 1
        offset = 0
        with open(self.path, "rb", buffering=1 << 20) as handle:
            for line_number, line in enumerate(handle, start=1):
                try:
                    raw = verify_line(line)
                    seq = raw.get("seq")
                    if seq != expected_seq:
                        if type(seq) is int and seq > expected_seq:
                            raise ValueError(
                                f"gap in sequence numbers: expected seq {expected_seq}, found {seq}"
                            )
                        raise ValueError(f"sequence number {seq!r} where {expected_seq} was expected")
                    event = (
                        decode_event(raw["type"], raw["at"], raw["data"]) if after_seq < seq <= last else None
                    )
                except KeyError as exc:
                    raise CorruptLog(
                        self.path, line_number, offset, f"missing member {exc.args[0]!r}", self.hint
                    ) from None
                except SerialisationError as exc:  # the record verifies but does not decode
                    problem = f"record seq {expected_seq}: {exc}"
                    raise CorruptLog(self.path, line_number, offset, problem, self.hint) from None
                except ValueError as exc:
                    raise CorruptLog(self.path, line_number, offset, str(exc), self.hint) from None
                end = offset + len(line)
                yield LogRecord(seq, event, offset, end)
                offset = end
                expected_seq += 1

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
