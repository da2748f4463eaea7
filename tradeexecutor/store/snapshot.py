"""The snapshot: the whole `State` as flat JSON, written atomically. A cache of the log, and the
file JavaScript clients read."""

from __future__ import annotations

from pathlib import Path

import orjson

from tradeexecutor.state.errors import SerialisationError
from tradeexecutor.state.state import SCHEMA_VERSION, State
from tradeexecutor.store.errors import CorruptSnapshot
from tradeexecutor.store.fsync import write_atomically
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.migration import migrate


def dump_state(state: State) -> bytes:
    """The snapshot's bytes: deterministic for a given state (field order fixed, no whitespace)."""
    with gc_paused():
        return orjson.dumps(state.to_dict())


def parse_state(data: bytes, source: str = "snapshot") -> State:
    with gc_paused():
        return _parse_state(data, source)


def _parse_state(data: bytes, source: str) -> State:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CorruptSnapshot(f"{source} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise CorruptSnapshot(f"{source} is not a tradeexecutor state (no schema_version)")
    raw = migrate(raw, source)
    try:
        return State.from_dict(raw)
    except KeyError as exc:
        raise CorruptSnapshot(f"{source} lacks the field {exc.args[0]!r}") from None
    except (SerialisationError, ValueError, TypeError) as exc:
        raise CorruptSnapshot(f"{source} has a bad value: {exc}") from None


def save_snapshot(path: Path, state: State) -> int:
    """Write the snapshot atomically (temp file, fsync, rename, fsync folder); returns its size."""
    data = dump_state(state)
    write_atomically(path, data)
    return len(data)


def load_snapshot(path: Path) -> State | None:
    """The state in the snapshot, or None when there is none yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    state = parse_state(data, f"snapshot {path}")
    if state.schema_version != SCHEMA_VERSION:
        raise CorruptSnapshot(f"snapshot {path} has schema_version {state.schema_version} after migration")
    return state
