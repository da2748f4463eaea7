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


_TIME_TEXT: dict[datetime, str] = {}


def format_time(value: datetime) -> str:
    """Write a UTC datetime as ISO 8601 with a `Z` suffix, e.g. `2026-01-01T00:00:00.000Z`.

    Formatting is the slowest part of writing a snapshot and the same instants recur (a trade's
    planned, updated and fill times), so results are memoised in a bounded cache.
    """
    text = _TIME_TEXT.get(value)
    if text is not None and value.tzinfo is UTC:
        return text
    offset = value.utcoffset()
    if offset is None:
        raise SerialisationError(f"naive datetime {value!r}: timestamps must be timezone-aware UTC")
    if offset != _ZERO_OFFSET:
        raise SerialisationError(f"datetime {value.isoformat()} is not UTC; convert it with .astimezone(UTC)")
    micro = value.microsecond
    base = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    text = f"{base}.{micro // 1000:03d}Z" if micro % 1000 == 0 else f"{base}.{micro:06d}Z"
    if value.tzinfo is UTC:
        if len(_TIME_TEXT) >= 200_000:
            _TIME_TEXT.clear()
        _TIME_TEXT[value] = text
    return text


def parse_time(text: str) -> datetime:
    """Read a timestamp written by `format_time` (or any ISO 8601 string with an offset)."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise SerialisationError(f"not an ISO 8601 timestamp: {text!r}") from exc
    if value.tzinfo is None:
        raise SerialisationError(f"timestamp {text!r} has no timezone; write it with a Z suffix")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value


def parse_optional_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def format_optional_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def format_decimal(value: Decimal) -> str:
    return str(value)


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


def parse_optional_decimal(text: str | None) -> Decimal | None:
    return None if text is None else parse_decimal(text)


def format_optional_decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A UTC datetime; a short form for tests, examples and sample data."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
