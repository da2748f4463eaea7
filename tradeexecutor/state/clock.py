"""The clock's type, and the check every timestamp it gives must pass.

Whatever stamps events (the runner, a session, repair) is given a `Clock` instead of reading the
time itself, so tests and replays can say what time it is. The model only names the type: nothing
in `state/` calls a clock. The wall clock is `tradeexecutor.clock.wall_clock`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

#: Returns "now" as a timezone-aware UTC datetime.
Clock = Callable[[], datetime]


def require_utc(value: datetime, what: str = "the clock") -> datetime:
    """`value` itself if it is timezone-aware UTC; a clear error naming `what` gave it otherwise."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{what} gave the naive datetime {value!r}: timestamps must be timezone-aware UTC")
    if offset != timedelta(0):
        raise ValueError(f"{what} gave {value.isoformat()}, which is not UTC: convert it with .astimezone(UTC)")
    return value if value.tzinfo is UTC else value.replace(tzinfo=UTC)
