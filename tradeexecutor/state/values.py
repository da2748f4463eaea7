"""Value conventions shared by the model: exact decimals and UTC timestamps.

Money is `Decimal`, written to JSON as a string produced by `str()`, which round-trips exactly
(including the exponent), so a replayed state serialises to the same bytes as the live one.
Timestamps are timezone-aware UTC and written as ISO 8601 with `Z`, with millisecond precision
(microseconds only when the value has them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradeexecutor.state.errors import SerialisationError

ZERO = Decimal(0)
_ZERO_OFFSET = timedelta(0)


_DAY_TEXT: dict[int, str] = {}
_CLOCK_TEXT: dict[int, str] = {}
_MILLIS_TEXT = [f".{ms:03d}Z" for ms in range(1000)]
_last: tuple[datetime | None, str] = (None, "")
_TIME_TEXT: dict[datetime, str] = {}
_last_parsed: tuple[str, datetime] = ("", datetime(1970, 1, 1, tzinfo=UTC))  # the last text parse_time read


def format_time(value: datetime) -> str:
    """Write a UTC datetime as ISO 8601 with a `Z` suffix, e.g. `2026-01-01T00:00:00.000Z`.

    Every event and snapshot writes timestamps, and `isoformat()` is slow, so the text is put
    together from memoised day and time-of-day parts (few distinct values in practice).
    """
    global _last
    last = _last  # one tuple, read and replaced atomically: safe with other threads formatting too
    if last[0] is value:  # the same instant is written several times in a row (one cycle's events)
        return last[1]
    text = _TIME_TEXT.get(value)  # snapshots write the same instants again at every save
    if text is not None and value.tzinfo is UTC:
        return text
    if value.tzinfo is not UTC:
        offset = value.utcoffset()
        if offset is None:
            raise SerialisationError(f"naive datetime {value!r}: timestamps must be timezone-aware UTC")
        if offset != _ZERO_OFFSET:
            raise SerialisationError(f"datetime {value.isoformat()} is not UTC; convert it with .astimezone(UTC)")
    ordinal = value.toordinal()
    day = _DAY_TEXT.get(ordinal)
    if day is None:
        day = _DAY_TEXT[ordinal] = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
    seconds = value.hour * 3600 + value.minute * 60 + value.second
    clock = _CLOCK_TEXT.get(seconds)
    if clock is None:
        clock = _CLOCK_TEXT[seconds] = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    micro = value.microsecond
    if micro % 1000 == 0:
        text = day + clock + _MILLIS_TEXT[micro // 1000]
    else:
        text = f"{day}{clock}.{micro:06d}Z"
    _last = (value, text)
    if value.tzinfo is UTC:
        if len(_TIME_TEXT) >= 500_000:
            _TIME_TEXT.clear()
        _TIME_TEXT[value] = text
    return text


def parse_time(text: str) -> datetime:
    """Read a timestamp written by `format_time` (or any ISO 8601 string with an offset)."""
    global _last_parsed
    last = _last_parsed
    if text == last[0]:  # the events of one cycle share their time: replay reads it once
        return last[1]
    value = _parse_time(text)
    _last_parsed = (text, value)
    return value


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise SerialisationError(f"not an ISO 8601 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        raise SerialisationError(f"timestamp {text!r} has no timezone; write it with a Z suffix")
    if value.tzinfo is not UTC:
        return value.astimezone(UTC)
    if len(text) == 24 and text[10] == "T" and text[19] == "." and text[23] == "Z" and len(_TIME_TEXT) < 500_000:
        # Our own millisecond form: remember it, so saving the state again does not re-format it.
        _TIME_TEXT[value] = text
    return value


def parse_optional_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def format_optional_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def parse_decimal(text: str) -> Decimal:
    """Read a decimal string; refuse floats, NaN and infinities, which JSON clients cannot hold."""
    if not isinstance(text, str):
        raise SerialisationError(f"expected a decimal string, got {type(text).__name__} {text!r}")
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise SerialisationError(f"not a decimal number: {text!r}") from exc
    if not value.is_finite():
        raise SerialisationError(f"decimal {text!r} is not finite")
    return value


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A UTC datetime; a short form for tests, examples and sample data."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
