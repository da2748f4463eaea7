"""The snapshot: the whole `State` as flat JSON, written atomically. A cache of the log, and the
file JavaScript clients read.

Reading one checks its shape first (`snapshot_shape`), so a field of the wrong type is refused
naming its path rather than failing later. A snapshot the store writes is sealed (`store/seal.py`):
it names the log line it continues and carries a digest of its own bytes, which start-up checks
instead of rebuilding the state. One without a seal is checked the old way: the state is rebuilt
from the log and compared with the snapshot at its `last_event_seq` (`check_against`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tradeexecutor.state.errors import SerialisationError
from tradeexecutor.state.state import SCHEMA_VERSION, State
from tradeexecutor.store.errors import CorruptSnapshot, repair_hint
from tradeexecutor.store.eventlog import LogMark
from tradeexecutor.store.fsync import write_atomically
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.migration import migrate
from tradeexecutor.store.seal import SEAL_MEMBERS, Seal, seal_pieces, unseal
from tradeexecutor.store.snapshot_encoder import SnapshotEncoder
from tradeexecutor.store.snapshot_shape import check_snapshot_shape


def dump_state(state: State) -> bytes:
    """The snapshot's bytes: deterministic for a given state (field order fixed, no whitespace).

    Everything is encoded afresh; a store saving again and again uses its `SnapshotEncoder`,
    which gives the same bytes reusing the encoded history."""
    with gc_paused():
        return orjson.dumps(state.to_dict())


def hint_for(path: Path) -> str:
    """The `repair` command for the executor whose snapshot is `path` (`DIR/ID.json`)."""
    if path.suffix == ".json" and path.stem:
        return repair_hint(path.parent, path.stem)
    return "run `trade-executor repair` to fix it"


def _refuse(source: str, problem: str, hint: str) -> CorruptSnapshot:
    return CorruptSnapshot(f"{source} {problem}; {hint}" if hint else f"{source} {problem}", problem)


def _parse_raw(data: bytes, source: str, hint: str) -> tuple[dict[str, Any], bool]:
    """The snapshot's JSON object after migration, and whether it was migrated."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _refuse(source, f"is not valid JSON ({exc})", hint) from None
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise _refuse(source, "is not a tradeexecutor state (no schema_version)", hint)
    for name in SEAL_MEMBERS:
        raw.pop(name, None)
    version = raw.get("schema_version")
    try:
        raw = migrate(raw, source)
    except CorruptSnapshot as exc:
        raise _refuse(source, str(exc).removeprefix(source).strip(), hint) from None
    return raw, raw.get("schema_version") != version


def _check_shape(raw: dict[str, Any], source: str, hint: str) -> None:
    try:
        check_snapshot_shape(raw)
    except SerialisationError as exc:
        raise _refuse(source, f"has a bad field: {exc}", hint) from None


def parse_state(data: bytes, source: str = "snapshot", hint: str = "") -> State:
    """Read snapshot bytes into a `State`; CorruptSnapshot names the field path, `source` and `hint`."""
    with gc_paused():
        raw, _ = _parse_raw(data, source, hint)
        return _state_of(raw, source, hint)


def _state_of(raw: dict[str, Any], source: str, hint: str) -> State:
    _check_shape(raw, source, hint)
    try:
        state = State.from_dict(raw)
    except KeyError as exc:
        raise _refuse(source, f"lacks the field {exc.args[0]!r}", hint) from None
    except (SerialisationError, ValueError, TypeError) as exc:
        raise _refuse(source, f"has a bad value: {exc}", hint) from None
    if state.schema_version != SCHEMA_VERSION:
        raise _refuse(source, f"has schema_version {state.schema_version} after migration", hint)
    return state


def snapshot_bytes(state: State, mark: LogMark | None = None, encoder: SnapshotEncoder | None = None) -> bytes:
    """The bytes of the snapshot file for `state`, encoded by `encoder` when given (a store's,
    which reuses the encoded history) and sealed with `mark`, the log's point at
    `state.last_event_seq` (the store always passes it); without, it is plain state JSON, which
    start-up verifies against the whole log."""
    return b"".join(snapshot_pieces(state, mark, encoder))


def snapshot_pieces(
    state: State, mark: LogMark | None = None, encoder: SnapshotEncoder | None = None
) -> list[bytes | memoryview]:
    """`snapshot_bytes` in pieces, written one after the other (a big snapshot is never copied)."""
    pieces = [dump_state(state)] if encoder is None else encoder.dump_pieces(state)
    return sealed(pieces, state.last_event_seq, mark)


def sealed(state_json: Sequence[bytes], seq: int, mark: LogMark | None) -> list[bytes | memoryview]:
    """The snapshot file's pieces for `state_json`, the state's JSON at `seq` in pieces: sealed
    with `mark`, plain without. (A store's background writer calls this off the loop's thread.)"""
    if mark is None:
        return list(state_json)
    if mark.seq != seq:
        raise ValueError(f"the log mark is at seq {mark.seq}, the state at {seq}")
    return seal_pieces(state_json, mark.chain, mark.offset)


def save_snapshot(
    path: Path, state: State, mark: LogMark | None = None, encoder: SnapshotEncoder | None = None
) -> int:
    """Write the snapshot atomically (temp file, fsync, rename, fsync folder); returns its size
    (see `snapshot_bytes`)."""
    pieces = snapshot_pieces(state, mark, encoder)
    write_atomically(path, pieces)
    return sum(map(len, pieces))


def load_snapshot(path: Path) -> State | None:
    """The state in the snapshot, or None when there is none yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_state(data, f"snapshot {path}", hint_for(path))


@dataclass(slots=True)
class SnapshotFile:
    """A snapshot as read from disk, not yet trusted: its bytes and the few members start-up needs."""

    path: Path
    data: bytes  # the state's JSON, without the seal
    raw: dict[str, Any]
    migrated: bool
    seq: int
    executor_id: str | None
    hint: str
    seal: Seal | None = None

    @property
    def source(self) -> str:
        return f"snapshot {self.path}"

    def expected_bytes(self) -> bytes:
        """What `dump_state` must give for the state rebuilt from the log at `seq`."""
        return orjson.dumps(self.raw) if self.migrated else self.data

    def check_shape(self) -> None:
        _check_shape(self.raw, self.source, self.hint)

    def state(self) -> State:
        """The state the snapshot holds (its shape checked; a bad field is named)."""
        with gc_paused():
            return _state_of(self.raw, self.source, self.hint)

    def changed(self) -> CorruptSnapshot:
        """The refusal of a snapshot whose digest does not match its bytes."""
        return _refuse(
            self.source,
            "was changed after it was written (its digest does not match its contents; was it edited?)",
            self.hint,
        )

    def check_against(self, rebuilt: State, log: Path) -> None:
        """Refuse unless the snapshot is `rebuilt` (the log's state at `seq`), saying why.

        The same bytes is the common case. Otherwise the snapshot is read and written again, so
        one in an older layout (without members added since, which take their defaults) or
        re-formatted by a tool still matches when its content is the same."""
        expected = dump_state(rebuilt)
        if expected == self.expected_bytes():
            return
        self.check_owner(rebuilt.executor_id, log)
        self.check_shape()
        try:
            normalised = dump_state(State.from_dict(self.raw))
        except (KeyError, SerialisationError, ValueError, TypeError) as exc:
            raise _refuse(self.source, f"has a bad value: {exc}", self.hint) from None
        if normalised == expected:
            return
        where, ours, theirs = first_difference(orjson.loads(normalised), orjson.loads(expected))
        raise _refuse(
            self.source,
            f"does not match its log {log} at seq {self.seq}: {where or 'the state'} is {ours} in the snapshot "
            f"but {theirs} in the state rebuilt from the log (was the snapshot edited?)",
            self.hint,
        )

    def check_owner(self, log_executor_id: str | None, log: Path) -> None:
        """Refuse a snapshot of another executor (copied in from elsewhere) by name."""
        if self.executor_id is not None and log_executor_id is not None and self.executor_id != log_executor_id:
            raise _refuse(
                self.source,
                f"belongs to executor {self.executor_id!r}, but its log {log} is executor {log_executor_id!r}'s "
                "(was the snapshot copied from another executor?)",
                self.hint,
            )


def read_snapshot(path: Path, hint: str | None = None) -> SnapshotFile | None:
    """The snapshot's bytes with its `last_event_seq` and `executor_id` checked; None if absent."""
    hint = hint_for(path) if hint is None else hint
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    source = f"snapshot {path}"
    data, sealed = unseal(data)
    with gc_paused():
        raw, migrated = _parse_raw(data, source, hint)
    seq, executor_id = raw.get("last_event_seq"), raw.get("executor_id")
    if type(seq) is not int or seq < 0 or not (executor_id is None or type(executor_id) is str):
        _check_shape(raw, source, hint)  # names the bad field
        raise _refuse(source, "has a bad last_event_seq or executor_id", hint)
    return SnapshotFile(path, data, raw, migrated, seq, executor_id, hint, sealed)


def first_difference(ours: Any, theirs: Any, path: str = "") -> tuple[str, str, str]:
    """The path of the first member where two JSON values differ, and both values shown short."""
    if type(ours) is dict and type(theirs) is dict:
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            child = f"{path}.{key}" if path else str(key)
            if key not in ours:
                return child, "missing", _short(theirs[key])
            if key not in theirs:
                return child, _short(ours[key]), "missing"
            if ours[key] != theirs[key]:
                return first_difference(ours[key], theirs[key], child)
        return path, _short(ours), _short(theirs)
    if type(ours) is list and type(theirs) is list:
        for index, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            if a != b:
                return first_difference(a, b, f"{path}[{index}]")
        return f"{path} (length)", str(len(ours)), str(len(theirs))
    return path, _short(ours), _short(theirs)


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."
