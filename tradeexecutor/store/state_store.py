"""`StateStore`: the state of one executor on disk, opened for writing.

Start-up is the same code path whether the last run ended cleanly or was killed: take the lock,
load the snapshot, check it against the log in O(1) of the log's length and replay the log after
the snapshot's `last_event_seq` (`store/loading.py`). The log is the truth; the snapshot only saves
replay time and serves readers.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from tradeexecutor.state.codec import encode_head
from tradeexecutor.state.events import Event
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.equity import EquityWriter, encode_point, reconcile
from tradeexecutor.store.errors import StoreBroken, StoreError, WriteFailed
from tradeexecutor.store.eventlog import START, EventLog, LogMark
from tradeexecutor.store.fsync import write_atomically
from tradeexecutor.store.loading import load_state, open_state
from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.logline import seal
from tradeexecutor.store.migration import migrate_log
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.snapshot import load_snapshot, sealed, snapshot_pieces
from tradeexecutor.store.snapshot_encoder import SnapshotEncoder
from tradeexecutor.store.snapshot_writer import MONEY_EVENTS, SnapshotWriter

__all__ = ["StateStore", "load_state"]


def _write_failure(path: Path, exc: OSError, durable_seq: int) -> str:
    """One line for a failed write: what happened, to which file, what to do, what is safe."""
    reasons = {
        errno.ENOSPC: ("disk full", "free space and rerun"),
        errno.EDQUOT: ("disk quota exceeded", "free space or raise the quota and rerun"),
        errno.EFBIG: ("file size limit reached", "raise the limit (ulimit -f) or free space, then rerun"),
    }
    what, fix = reasons.get(exc.errno or 0, (exc.strerror or str(exc), "fix the cause and rerun"))
    return f"{what} while writing {path}: {fix}; nothing was lost up to seq {durable_seq}"


class StateStore:
    """Holds the writer lock, the live `State`, and appends events to the log.

    After a failed write (a full disk, the file size limit) the store is broken: the log is cut
    back to its last whole record, the in-memory state is rolled back to it, and every later
    `record`, `flush` or `save_snapshot` raises `StoreBroken` with the same one-line message, so
    no snapshot ever gets ahead of the log and the process stops.
    """

    def __init__(
        self, state_dir: Path | str, executor_id: str, fsync_each_batch: bool = True, verify_log: bool = False
    ) -> None:
        """`fsync_each_batch=False` is for backtests, which touch no outside world: records are
        buffered and written in large chunks, and fsynced once on `flush()`/`close()`.
        `verify_log=True` makes `open` verify and replay the whole log rather than trust a
        sealed snapshot that checks out against it (`start --verify-log`)."""
        self.paths = StatePaths(Path(state_dir), executor_id)
        self.fsync_each_batch = fsync_each_batch
        self.verify_log = verify_log
        self._buffer: list[bytes] = []
        self._lock = WriterLock(self.paths.lock)
        self.state = State()
        self._log = EventLog.of(self.paths)
        self._open = False
        self._durable_seq = 0  # the last seq written to the log file
        self._mark = START  # the log's mark at the last event recorded (buffered or written)
        self._broken: str | None = None
        self._equity = EquityWriter(self.paths.equity)
        self._equity_buffer: list[bytes] = []
        #: What opening did to the equity file ("ok", "rebuilt N points", ...), for tests and logs.
        self.equity_status = ""
        self._encoder = SnapshotEncoder()
        self._writer: SnapshotWriter | None = None
        #: The `last_event_seq` of the newest snapshot saved or handed to the writer.
        self.snapshot_seq = 0
        #: The seq of the last event recorded that moved money or orders (`MONEY_EVENTS`).
        self.money_seq = 0

    @property
    def broken(self) -> str | None:
        """The message of the write failure that stopped this store, or None."""
        return self._broken

    @property
    def log_mark(self) -> LogMark:
        """The log's chain value and offsets at the state's last event: what a snapshot of the
        current state is sealed with."""
        return self._mark

    def open(self) -> StateStore:
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        migrated = False
        try:
            self.state, mark = open_state(self.paths, verify_log=self.verify_log)
            if mark is None:  # a log of the first format, just verified in full: chain it
                backup, mark = migrate_log(self.paths)
                migrated = True
                print(
                    f"note: rewrote the event log {self.paths.log} in the chained format; "
                    f"the old one is kept as {backup}",
                    file=sys.stderr,
                )
        except BaseException:
            self._lock.release()
            raise
        self._mark = mark
        self._durable_seq = self.state.last_event_seq
        try:
            self.equity_status = reconcile(
                self.paths.equity, self.state, self._log, lambda: load_snapshot(self.paths.snapshot)
            )
        except OSError as exc:
            self._lock.release()
            raise WriteFailed(_write_failure(self.paths.equity, exc, self._durable_seq), self._durable_seq, exc) from None
        self.snapshot_seq = self.money_seq = self.state.last_event_seq
        self._open = True
        self._adopt_snapshot()
        if migrated and self.state.last_event_seq:
            try:
                self.save_snapshot()  # sealed: the next start checks it in O(1)
            except BaseException:
                self._open = False
                self._lock.release()
                raise
        return self

    def _adopt_snapshot(self) -> None:
        """Reuse the loaded snapshot's encoded closed positions (`SnapshotEncoder.adopt`) when
        there are enough of them for it to matter, so the first save after a start is cheap."""
        if len(self.state.portfolio.closed_positions) < 1000:
            return
        try:
            data = self.paths.snapshot.read_bytes()
        except OSError:
            return
        self._encoder.adopt(self.state, data)

    def _check_usable(self) -> None:
        if self._broken is not None:
            raise StoreBroken(self._broken)
        if not self._open:
            raise RuntimeError("StateStore used before open()")
        writer = self._writer
        if writer is not None and writer.failure is not None:
            self._fail(self.paths.snapshot, writer.failure)

    def record(self, events: Sequence[Event]) -> None:
        """Apply events in order and append them as one fsynced batch.

        Each event is encoded (refusing values JSON cannot carry) and applied (refusing broken
        invariants) before anything is written. If one is refused, the events before it, which
        did apply, are still written, so the log and the state never disagree; then the error is
        raised. If the write fails, the state is rolled back to the log and WriteFailed raised.
        """
        self._check_usable()
        state = self.state
        lines: list[bytes] = []
        points: list[bytes] = []  # the equity file's lines of the valuation points these events record
        counted = state.equity.points
        error: Exception | None = None
        mark = self._mark
        chain, offset, end = mark.chain, mark.offset, mark.end
        for event in events:
            seq = state.last_event_seq + 1
            try:
                line, next_chain = seal(encode_head(seq, event), chain)
                apply(state, event, seq)
            except Exception as exc:  # SerialisationError or InvalidEvent: the state is untouched
                error = exc
                break
            lines.append(line)
            chain, offset, end = next_chain, end, end + len(line)
            summary = state.equity
            if summary.points != counted:
                counted = summary.points
                points.append(encode_point(counted, summary.last))  # type: ignore[arg-type]
            if type(event) in MONEY_EVENTS:
                self.money_seq = seq
        if lines:
            self._mark = LogMark(state.last_event_seq, chain, offset, end)
            if self.fsync_each_batch:
                self._append(lines, fsync=True)
                self._append_equity(points)  # after the log batch is durable; fsynced at flush
            else:
                self._buffer.extend(lines)
                self._equity_buffer.extend(points)
                if len(self._buffer) >= 16384:
                    lines, self._buffer = self._buffer, []
                    points, self._equity_buffer = self._equity_buffer, []
                    self._append(lines, fsync=False)
                    self._append_equity(points)
        if error is not None:
            raise error

    def _append(self, lines: list[bytes], fsync: bool) -> None:
        try:
            self._log.append_lines(lines, fsync=fsync)
        except OSError as exc:
            self._fail(self.paths.log, exc)
        self._durable_seq += len(lines)

    def _append_equity(self, lines: list[bytes]) -> None:
        """The equity file is derived from the log: written after the log's lines, and rebuilt
        from the log on open when a failure here leaves it behind."""
        try:
            self._equity.append(lines)
        except OSError as exc:
            self._fail(self.paths.equity, exc)

    def _fail(self, path: Path, exc: OSError) -> NoReturn:
        """Mark the store broken, roll the state back to the log, raise the one-line error."""
        message = _write_failure(path, exc, self._durable_seq)
        self._broken = message
        self._buffer = []
        self._equity_buffer = []
        if self.state.last_event_seq != self._durable_seq:
            self._roll_back()
        raise WriteFailed(message, self._durable_seq, exc) from None

    def _roll_back(self) -> None:
        """Make the live state (the very object callers hold) the log's state again: events
        applied in memory whose batch never reached the log are undone."""
        try:
            rebuilt, mark = open_state(self.paths, use_snapshot=False)
        except (StoreError, OSError):
            return  # the store stays broken; the next start refuses or repairs the log
        self._mark = mark or START
        for name in State.__slots__:
            setattr(self.state, name, getattr(rebuilt, name))

    def flush(self) -> None:
        """Write and fsync anything buffered (only buffered stores hold anything back)."""
        self._check_usable()
        if self._buffer:
            lines, self._buffer = self._buffer, []
            self._append(lines, fsync=True)
        if self._equity_buffer:
            points, self._equity_buffer = self._equity_buffer, []
            self._append_equity(points)
        try:
            self._equity.fsync()
        except OSError as exc:
            self._fail(self.paths.equity, exc)

    def save_snapshot(self, wait: bool = True) -> int:
        """Save the snapshot of the state as it is now; returns its size in bytes.

        Only live positions and unfinished trades are encoded again (`SnapshotEncoder`). With
        `wait=False` the bytes go to a background writer, which seals and writes them, and this
        returns without touching the disk (the size is then that of the state's JSON, before the
        seal); a failure of that write is raised (as WriteFailed) by the store's next use."""
        self.flush()  # the snapshot must never be ahead of the log on disk
        seq = self.snapshot_seq = self.state.last_event_seq
        writer = self._writer
        if writer is None and wait:
            pieces = snapshot_pieces(self.state, self._mark, self._encoder)
            try:
                write_atomically(self.paths.snapshot, pieces)
            except OSError as exc:
                self._fail(self.paths.snapshot, exc)
            return sum(map(len, pieces))
        state_json = self._encoder.dump_pieces(self.state)
        if writer is None:
            writer = self._writer = SnapshotWriter(self.paths.snapshot)
        writer.submit(partial(sealed, state_json, seq, self._mark))  # sealed on the writer's thread
        if wait:
            writer.wait()
            self._check_usable()
        return sum(map(len, state_json))

    def _stop_writer(self) -> None:
        """Let the background writer finish what it was given, then stop it."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def close(self, snapshot: bool = True) -> None:
        """Flush, save the snapshot and release the lock; a broken store only releases it."""
        if not self._open:
            return
        try:
            if self._broken is None:
                self.flush()
                if snapshot and self.state.last_event_seq:
                    self.save_snapshot()
        finally:
            try:
                self._stop_writer()
            finally:
                self._open = False
                self._equity.close()
                self._lock.release()

    def __enter__(self) -> StateStore:
        return self.open() if not self._open else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(snapshot=True)
