"""Loading an executor's state from its files: the snapshot, checked against the log, then the tail.

Start-up costs the snapshot and the tail after it, not the log's length. A sealed snapshot
(`store/seal.py`) is trusted once three things hold, each read in O(1) of the log:

* its digest matches its bytes (so it was not edited after it was written);
* the log's first line is the same executor's (so it was not copied from another one);
* the log line at its `last_event_seq` carries the chain value it recorded. That value stands for
  every byte of the lines up to there (`store/logline.py`), so a log rewritten before that point,
  or one that is not the log the snapshot was taken from, differs there.

Then every line after it is verified against the chain and applied; the reducer refuses an
impossible event there. Damage inside the prefix that leaves the chain values on later lines as
they were (a flipped byte in an old line) is not seen by this check: `replay`, `start
--verify-log` and `repair` read the whole log and find it.

A snapshot without a seal (written before the chain, or by a tool) and `verify_log=True` take the
long way: every line from the first is verified and applied, and the rebuilt state at the
snapshot's seq must equal the snapshot.
"""

from __future__ import annotations

from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.store.errors import CorruptLog, CorruptSnapshot, repair_hint
from tradeexecutor.store.eventlog import START, EventLog, LogMark
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.logline import chain_of
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.snapshot import SnapshotFile, read_snapshot


def load_state(
    paths: StatePaths, use_snapshot: bool = True, until_seq: int | None = None, verify_log: bool = False
) -> State:
    """The executor's state: from a sealed snapshot and the log's tail, or rebuilt from the whole
    log (no snapshot, an unsealed one, `use_snapshot=False`, `until_seq` or `verify_log`).

    Every refusal names the file, the place and `trade-executor repair`. With `until_seq`,
    replay stops after that event (the rest of the log is not read)."""
    return open_state(paths, use_snapshot, until_seq, verify_log)[0]


def open_state(
    paths: StatePaths, use_snapshot: bool = True, until_seq: int | None = None, verify_log: bool = False
) -> tuple[State, LogMark | None]:
    """`load_state` and the log's mark at the state's seq (None for a log of the first format,
    which has no chain: the store migrates it)."""
    hint = repair_hint(paths.state_dir, paths.executor_id)
    log = EventLog.of(paths)
    snapshot = read_snapshot(paths.snapshot, hint) if use_snapshot else None
    with gc_paused():
        fast = snapshot is not None and snapshot.seal is not None and not verify_log and until_seq is None
        if fast and log.format() != 1:  # a first-format log has no chain to check the seal with
            assert snapshot is not None
            return _from_snapshot(paths, log, snapshot)
        return _rebuild(paths, log, snapshot, until_seq)


def _missing(paths: StatePaths, snapshot: SnapshotFile, log_end: int, hint: str) -> CorruptSnapshot:
    return CorruptSnapshot(
        f"snapshot {paths.snapshot} is at event {snapshot.seq} but the log {paths.log} ends at event "
        f"{log_end}: events are missing from the log; {hint}"
    )


def _from_snapshot(paths: StatePaths, log: EventLog, snapshot: SnapshotFile) -> tuple[State, LogMark]:
    """The O(1) start: trust the sealed snapshot once it checks out against the log, replay the tail."""
    seal = snapshot.seal
    assert seal is not None
    state = snapshot.state()
    if not seal.intact:
        raise snapshot.changed()
    first = State()
    if log.fold(first, START, until_seq=1).seq == 1:
        snapshot.check_owner(first.executor_id, paths.log)
    if snapshot.seq == 0:
        mark = START
    else:
        found = log.line_at(snapshot.seq, seal.offset)
        if found is None:
            raise _missing(paths, snapshot, log.last_seq(), snapshot.hint)
        line, offset = found
        try:
            chain = chain_of(line)
        except ValueError as exc:
            raise CorruptLog(paths.log, snapshot.seq, offset, str(exc), snapshot.hint) from None
        if chain != seal.chain:
            raise _chain_mismatch(paths, snapshot, chain)
        mark = LogMark(snapshot.seq, chain, offset, offset + len(line))
    return state, log.fold(state, mark)


def _chain_mismatch(paths: StatePaths, snapshot: SnapshotFile, chain: bytes) -> CorruptSnapshot:
    assert snapshot.seal is not None
    problem = (
        f"does not match its log {paths.log} at seq {snapshot.seq}: the log's chain value there is "
        f"{chain.hex()}, the snapshot recorded {snapshot.seal.chain.hex()} (the log was changed before "
        "that point after the snapshot was written, or the snapshot belongs to another log)"
    )
    return CorruptSnapshot(f"{snapshot.source} {problem}; {snapshot.hint}", problem)


def _rebuild(
    paths: StatePaths, log: EventLog, snapshot: SnapshotFile | None, until_seq: int | None
) -> tuple[State, LogMark | None]:
    """The long way: every line from the first, the snapshot compared with the state at its seq."""
    if log.format() == 1:
        return _rebuild_first_format(paths, log, snapshot, until_seq), None
    state = State()
    if snapshot is not None and snapshot.seq == 0:
        _check_at_snapshot(paths, snapshot, state, START)
    mark = log.fold(state, START, until_seq=1 if until_seq is None else min(1, until_seq))
    if snapshot is None:
        return state, log.fold(state, mark, until_seq)
    if mark.seq == 1:
        snapshot.check_owner(state.executor_id, paths.log)
    last = snapshot.seq if until_seq is None else min(snapshot.seq, until_seq)
    mark = log.fold(state, mark, last)
    if mark.seq < snapshot.seq and (until_seq is None or mark.seq < until_seq):
        snapshot.check_owner(state.executor_id, paths.log)
        snapshot.check_shape()
        raise _missing(paths, snapshot, mark.seq, snapshot.hint)
    if mark.seq == snapshot.seq and snapshot.seq > 0:
        _check_at_snapshot(paths, snapshot, state, mark)
    return state, log.fold(state, mark, until_seq)


def _check_at_snapshot(paths: StatePaths, snapshot: SnapshotFile, state: State, mark: LogMark) -> None:
    """At the snapshot's seq on the long way: the same state, and a seal (if any) that fits."""
    snapshot.check_against(state, paths.log)
    if snapshot.seal is not None:
        if not snapshot.seal.intact:
            raise snapshot.changed()
        if snapshot.seal.chain != mark.chain:
            raise _chain_mismatch(paths, snapshot, mark.chain)


def _rebuild_first_format(
    paths: StatePaths, log: EventLog, snapshot: SnapshotFile | None, until_seq: int | None
) -> State:
    """`_rebuild` for a log of the first format (a CRC per line, no chain), record by record."""
    state = State()
    snapshot_seq = snapshot.seq if snapshot is not None else -1
    log_end = 0
    if snapshot is not None and snapshot_seq == 0:
        snapshot.check_against(state, paths.log)
    for record in log.scan(after_seq=0, until_seq=until_seq):
        log_end = record.seq
        event = record.event
        if event is None:
            continue
        try:
            apply(state, event, record.seq)
        except InvalidEvent as exc:
            problem = f"the event does not apply: {exc}"
            raise CorruptLog(paths.log, record.seq, record.offset, problem, log.hint) from None
        if snapshot is not None:
            if record.seq == 1:
                snapshot.check_owner(state.executor_id, paths.log)
            if record.seq == snapshot_seq:
                snapshot.check_against(state, paths.log)
    if snapshot is not None and log_end < snapshot_seq:
        snapshot.check_owner(state.executor_id, paths.log)
        snapshot.check_shape()
        raise _missing(paths, snapshot, log_end, snapshot.hint)
    return state
