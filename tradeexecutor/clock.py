"""The wall clock: the one place the executor reads the real time for what it records.

It sits at the top of the package, beside no room, because every layer that stamps events
(`strategy`, `execution`, `app`, `repair`) is given a clock and may default to this one, while
`state/` must not read the time at all (it only defines the `Clock` type, in `state/clock.py`).
Tests replace it with a fixed clock or freeze it with freezegun.
"""

from __future__ import annotations

from datetime import UTC, datetime


def wall_clock() -> datetime:
    """Now, in UTC, cut to the millisecond precision the log writes (so a replay formats it alike)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)
