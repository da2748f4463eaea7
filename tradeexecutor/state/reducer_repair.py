"""Reducer handler for `log_repair_applied`: the mark `trade-executor repair` leaves where it
dropped damaged records from the log and kept the good ones after them."""

from __future__ import annotations

from typing import Any

import orjson

from tradeexecutor.state.errors import InvalidEvent, SerialisationError
from tradeexecutor.state.events import LogRepairApplied
from tradeexecutor.state.handlers import handles
from tradeexecutor.state.state import State


@handles(LogRepairApplied)
def _log_repair_applied(state: State, event: LogRepairApplied) -> None:
    """Checks that the event says what was dropped and why; with a `restored_state` (a snapshot
    that covered the damage) the state becomes that one, otherwise nothing changes."""
    if not event.dropped_lines_sha256 and not event.restored_state:
        raise InvalidEvent(event, "a log repair must list the lines it dropped or restore a snapshot's state")
    if len(event.dropped_types) != len(event.dropped_seqs):
        raise InvalidEvent(event, "dropped_types must name one type per dropped seq")
    if len(event.dropped_excerpts) != len(event.dropped_lines_sha256):
        raise InvalidEvent(event, "dropped_excerpts must have one excerpt per dropped line")
    if not event.reason:
        raise InvalidEvent(event, "a log repair needs a reason")
    if not event.restored_state:
        return
    restored = _restored(event)
    if restored.schema_version != state.schema_version:
        raise InvalidEvent(
            event, f"restored_state has schema_version {restored.schema_version}, not {state.schema_version}"
        )
    for name in State.__slots__:
        setattr(state, name, getattr(restored, name))


def _restored(event: LogRepairApplied) -> State:
    try:
        raw: Any = orjson.loads(event.restored_state)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        return State.from_dict(raw)
    except KeyError as exc:
        raise InvalidEvent(event, f"restored_state lacks the field {exc.args[0]!r}") from None
    except (orjson.JSONDecodeError, SerialisationError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidEvent(event, f"restored_state is not a state: {exc}") from None
