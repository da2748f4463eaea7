"""`StateStore`: the state of one executor on disk, opened for writing.

Start-up is the same code path whether the last run ended cleanly or was killed: take the lock,
load the snapshot, replay the log after the snapshot's `last_event_seq`. The log is the truth;
the snapshot only saves replay time and serves readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import Event
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.errors import CorruptLog, CorruptSnapshot, repair_hint
from tradeexecutor.store.eventlog import EventLog, encode_line
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.snapshot import load_snapshot, save_snapshot


def load_state(paths: StatePaths, use_snapshot: bool = True, until_seq: int | None = None) -> State:
    """Snapshot + replay of the log tail (or of the whole log when `use_snapshot` is False).

    With `until_seq`, replay stops after that event (the rest of the log is still verified).

    Every log record is verified, including those the snapshot already holds. Refuses, naming
    `trade-executor repair`, when the log is damaged, an event does not apply, or the snapshot is
    ahead of the log.
    """
    hint = repair_hint(paths.state_dir, paths.executor_id)
    log = EventLog.of(paths)
    state = (load_snapshot(paths.snapshot) if use_snapshot else None) or State()
    snapshot_seq = state.last_event_seq
    log_end = 0
    with gc_paused():
        for record in log.scan(after_seq=snapshot_seq):
            log_end = record.seq
            if record.event is None or (until_seq is not None and record.seq > until_seq):
                continue
            try:
                apply(state, record.event, record.seq)
            except InvalidEvent as exc:
                problem = f"the event does not apply: {exc}"
                raise CorruptLog(paths.log, record.seq, record.offset, problem, hint) from None
    if log_end < snapshot_seq:
        raise CorruptSnapshot(
            f"snapshot {paths.snapshot} is at event {snapshot_seq} but the log {paths.log} ends at event "
            f"{log_end}: events are missing from the log; {hint}"
        )
    return state


class StateStore:
    """Holds the writer lock, the live `State`, and appends events to the log."""

    def __init__(self, state_dir: Path | str, executor_id: str, fsync_each_batch: bool = True) -> None:
        """`fsync_each_batch=False` is for backtests, which touch no outside world: records are
        buffered and written in large chunks, and fsynced once on `flush()`/`close()`."""
        self.paths = StatePaths(Path(state_dir), executor_id)
        self.fsync_each_batch = fsync_each_batch
        self._buffer: list[bytes] = []
        self._lock = WriterLock(self.paths.lock)
        self.state = State()
        self._log = EventLog.of(self.paths)
        self._open = False

    def open(self) -> StateStore:
        self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            self.state = load_state(self.paths)
        except BaseException:
            self._lock.release()
            raise
        self._open = True
        return self

    def record(self, events: Sequence[Event]) -> None:
        """Apply events in order and append them as one fsynced batch.

        Each event is encoded (refusing values JSON cannot carry) and applied (refusing broken
        invariants) before anything is written. If one is refused, the events before it, which
        did apply, are still written, so the log and the state never disagree; then the error is
        raised.
        """
        if not self._open:
            raise RuntimeError("StateStore.record() before open()")
        state = self.state
        lines: list[bytes] = []
        error: Exception | None = None
        for event in events:
            seq = state.last_event_seq + 1
            try:
                line = encode_line(seq, event)
                apply(state, event, seq)
            except Exception as exc:  # SerialisationError or InvalidEvent: the state is untouched
                error = exc
                break
            lines.append(line)
        if lines:
            if self.fsync_each_batch:
                self._log.append_lines(lines)
            else:
                self._buffer.extend(lines)
                if len(self._buffer) >= 16384:
                    self._log.append_lines(self._buffer, fsync=False)
                    self._buffer = []
        if error is not None:
            raise error

    def flush(self) -> None:
        """Write and fsync anything buffered (only buffered stores hold anything back)."""
        if self._buffer:
            self._log.append_lines(self._buffer)
            self._buffer = []

    def save_snapshot(self) -> int:
        self.flush()  # the snapshot must never be ahead of the log on disk
        return save_snapshot(self.paths.snapshot, self.state)

    def close(self, snapshot: bool = True) -> None:
        if not self._open:
            return
        try:
            self.flush()
            if snapshot and self.state.last_event_seq:
                self.save_snapshot()
        finally:
            self._open = False
            self._lock.release()

    def __enter__(self) -> StateStore:
        return self.open() if not self._open else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(snapshot=True)
