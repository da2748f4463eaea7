"""The equity file `DIR/ID.equity.jsonl`: the per-cycle equity curve, one point a line, append-only.

The state keeps only a summary of the curve (`state.valuation.EquitySummary`), so the snapshot does
not grow with cycles; the points themselves are written here by the store as cycles complete,
after their log batch. A line is a JSON object with money as strings and times ISO 8601 with `Z`
(so JavaScript reads it without losing digits), `n` counting the points from 1:

    {"n":1,"at":"2025-01-01T00:00:00Z","cycle":1,"equity":"10000","cash":"10000","positions_value":"0"}

It is derived data, rebuilt from the log whenever it disagrees with the state: on open the store
compares its last line with the state's last point (O(1)); a torn last line is cut off, a file
that is behind is extended from the log, one that is missing or does not match is rebuilt
(`reconcile`). Readers (statistics, reports, JS clients) stop at a torn last line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO

import orjson

from tradeexecutor.state.events import Event
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.state.valuation import ValuationPoint
from tradeexecutor.state.values import format_time, parse_decimal, parse_time
from tradeexecutor.store.eventlog import EventLog
from tradeexecutor.store.fsync import fsync_dir
from tradeexecutor.store.gcpause import gc_paused

#: An equity curve as the statistics read it: (time, equity) in the order recorded.
EquityCurve = list[tuple[datetime, Decimal]]

#: How far from the end `read_last` looks for the last whole line (a line is ~150 bytes).
_TAIL_BYTES = 4096


def encode_point(n: int, point: ValuationPoint) -> bytes:
    """One line of the file (deterministic: the same point always gives the same bytes)."""
    return (
        f'{{"n":{n},"at":"{format_time(point.at)}","cycle":{point.cycle},"equity":"{point.equity}",'
        f'"cash":"{point.cash}","positions_value":"{point.positions_value}"}}\n'
    ).encode()


def decode_point(line: bytes) -> tuple[int, ValuationPoint]:
    """The point number and the point of one line; ValueError/KeyError/TypeError if it is not one."""
    data = orjson.loads(line)
    n = data["n"]
    if type(n) is not int or n < 1:
        raise ValueError(f"bad point number {n!r}")
    return n, ValuationPoint.from_dict(data)


@dataclass(frozen=True, slots=True)
class LastLine:
    """The last whole, readable line of the file: its point number, bytes and where it ends."""

    n: int
    line: bytes
    end: int


def read_last(path: Path) -> tuple[LastLine | None, int]:
    """The last readable line (None if there is none) and the file's size (-1 if it is missing).

    Reads only the file's end: bytes after the last newline are a torn write; a last line that
    does not decode counts as no line at all (the caller rebuilds)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - _TAIL_BYTES)
            handle.seek(start)
            tail = handle.read()
    except FileNotFoundError:
        return None, -1
    end = tail.rfind(b"\n")
    if end < 0:
        return None, size
    begin = tail.rfind(b"\n", 0, end) + 1
    if begin == 0 and start > 0:
        return None, size  # a line longer than the window: not one of ours
    line = tail[begin : end + 1]
    try:
        n, _ = decode_point(line)
    except (ValueError, KeyError, TypeError):
        return None, size
    return LastLine(n, line, start + end + 1), size


def iter_points(path: Path) -> Iterator[ValuationPoint]:
    """Every point of the file in order; stops at a torn or unreadable line. Nothing if missing."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            try:
                yield decode_point(line)[1]
            except (ValueError, KeyError, TypeError):
                return


def read_curve(path: Path) -> EquityCurve:
    """The (time, equity) curve the statistics and reports use, read from the equity file.

    Only `at` and `equity` are decoded (the other members are skipped), which keeps reading a
    million points to a few seconds and the memory to the two columns."""
    curve: EquityCurve = []
    append = curve.append
    times: dict[bytes, datetime] = {}
    last_text, last_equity = b"", Decimal(0)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return curve
    with handle, gc_paused():
        for line in handle:
            if not line.endswith(b"\n"):
                break
            at_start = line.find(b'"at":"') + 6
            equity_start = line.find(b'"equity":"') + 10
            if at_start < 6 or equity_start < 10:
                break
            at_text = line[at_start : line.index(b'"', at_start)]
            at = times.get(at_text)
            if at is None:
                at = parse_time(at_text.decode())
                if len(times) < 4096:  # restarts repeat a few times; most are new
                    times[at_text] = at
            equity_text = line[equity_start : line.index(b'"', equity_start)]
            if equity_text != last_text:  # equity repeats while flat: one Decimal for the run of them
                last_text, last_equity = equity_text, parse_decimal(equity_text.decode())
            append((at, last_equity))
    return curve


def curve_of(points: Iterable[ValuationPoint]) -> EquityCurve:
    return [(point.at, point.equity) for point in points]


class EquityWriter:
    """Appends lines to the equity file; keeps one handle open between batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def append(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        if self._handle is None:
            self._handle = open(self.path, "ab")
        self._handle.write(b"".join(lines))
        self._handle.flush()

    def fsync(self) -> None:
        if self._handle is not None:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            handle.close()


def points_of(events: Iterable[tuple[int, Event]], state: State) -> Iterator[tuple[int, ValuationPoint]]:
    """Apply `(seq, event)` pairs to `state` and yield each valuation point they record, numbered."""
    summary = state.equity
    for seq, event in events:
        before = summary.points
        apply(state, event, seq)
        summary = state.equity
        if summary.points != before:
            assert summary.last is not None
            yield summary.points, summary.last


def fold_with_curve(events: Iterable[Event]) -> tuple[State, list[ValuationPoint]]:
    """The state of `events` and every valuation point they record (for callers holding events
    in memory, such as tests and `replay`'s comparison)."""
    state = State()
    points = [point for _, point in points_of(enumerate(events, start=1), state)]
    return state, points


def _log_events(log: EventLog, after_seq: int) -> Iterator[tuple[int, Event]]:
    for record in log.scan(after_seq=after_seq):
        if record.event is not None:
            yield record.seq, record.event


def rebuild(path: Path, log: EventLog) -> int:
    """Write the whole file again from the log (streamed to a temporary file, then renamed); returns
    the number of points. The log was verified by the caller."""
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    with open(temporary, "wb", buffering=1 << 20) as handle, gc_paused():
        for n, point in points_of(_log_events(log, 0), State()):
            handle.write(encode_point(n, point))
            count = n
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_dir(path.parent)
    return count


def reconcile(path: Path, state: State, log: EventLog, snapshot: Callable[[], State | None]) -> str:
    """Make the file hold exactly the points of the log's state `state`; says what it did.

    `snapshot` reads the (verified) snapshot state, the place a file that is behind is extended
    from without folding the whole log again; it is called only then."""
    summary = state.equity
    last, size = read_last(path)
    expected = encode_point(summary.points, summary.last) if summary.last is not None else None
    if last is None and summary.points == 0 and size <= 0:
        return "empty"
    if last is not None and last.line == expected:
        if last.end != size:
            _truncate(path, last.end)
            return "cut a torn line"
        return "ok"
    if last is not None and last.n < summary.points:
        start = snapshot()
        if start is None or start.equity.points <= last.n:
            extended = _extend(path, last, log, start)
            if extended is not None:
                return f"extended by {extended} points"
    return f"rebuilt {rebuild(path, log)} points"


def _extend(path: Path, last: LastLine, log: EventLog, snapshot: State | None) -> int | None:
    """Append the points after `last`, folded from the snapshot on (from the first event without
    one); None if `last` is not one of the log's points (then the caller rebuilds)."""
    start = State() if snapshot is None else snapshot  # the caller's own copy: folded on
    matched = start.equity.last is not None and encode_point(start.equity.points, start.equity.last) == last.line
    lines: list[bytes] = []
    for n, point in points_of(_log_events(log, start.last_event_seq), start):
        if n == last.n:
            matched = encode_point(n, point) == last.line
        elif n > last.n:
            lines.append(encode_point(n, point))
    if not matched:
        return None
    _truncate(path, last.end)
    with open(path, "ab") as handle:
        handle.write(b"".join(lines))
        handle.flush()
        os.fsync(handle.fileno())
    return len(lines)


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(size)
        handle.flush()
        os.fsync(handle.fileno())


@dataclass(frozen=True, slots=True)
class FileCheck:
    """How the equity file compares with the curve rebuilt from the log."""

    points: int  # points rebuilt from the log
    matching: int  # leading lines of the file equal to them
    lines: int  # whole lines in the file
    torn: bool  # bytes after the last newline

    @property
    def matches(self) -> bool:
        return self.matching == self.points == self.lines and not self.torn

    @property
    def differs(self) -> bool:
        """A line is not the log's point (not merely missing at the end): the file was edited,
        belongs to another log, or outlived a repair."""
        return self.matching < min(self.lines, self.points) or self.lines > self.points


def check_file(path: Path, log: EventLog) -> FileCheck:
    """Compare the equity file line by line with the points folded from the whole log."""
    matching = lines = 0
    torn = False
    same = True
    with gc_paused():
        handle = open(path, "rb") if path.exists() else None
        try:
            file_lines = iter(handle) if handle is not None else iter(())
            points = 0
            for n, point in points_of(_log_events(log, 0), State()):
                points = n
                line = next(file_lines, None)
                if line is None:
                    continue
                if not line.endswith(b"\n"):
                    torn = True
                    continue
                lines += 1
                if same and line == encode_point(n, point):
                    matching = n
                else:
                    same = False
            for line in file_lines:
                if line.endswith(b"\n"):
                    lines += 1
                else:
                    torn = True
        finally:
            if handle is not None:
                handle.close()
    return FileCheck(points, matching, lines, torn)
