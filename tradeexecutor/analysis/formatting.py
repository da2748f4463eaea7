"""How money and time are written for people: the one helper for each, used by every table,
summary and report.

Money is rounded half-even to a fixed number of places, whatever the thread's decimal context
says (ccxt switches it to half-up on every call, and `f"{d:.2f}"` follows the context), with
thousands separators; a zero never shows as `-0.00`. Times are UTC, to the minute (or the
second), in the one layout `2025-01-31 12:00`.

These are for display only: the log and the snapshot write exact strings (see `state/values.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

__all__ = ["format_money", "format_time"]

#: What a missing value looks like in a summary (an undefined statistic, a position not closed yet).
MISSING = "n/a"


def format_money(value: Decimal | None, decimals: int = 2, signed: bool = False) -> str:
    """`1234.565` -> `1,234.56`; `signed` adds `+` to positive values; None -> `n/a`."""
    if value is None:
        return MISSING
    if not value.is_finite():
        return str(value)
    with localcontext() as context:
        # Enough digits for the value at `decimals` places: quantize never fails on a big value.
        context.prec = max(28, value.adjusted() + decimals + 2)
        context.rounding = ROUND_HALF_EVEN
        rounded = value.quantize(Decimal(1).scaleb(-decimals))
        if rounded.is_zero():
            rounded = abs(rounded)
        return f"{rounded:{'+' if signed else ''},.{decimals}f}"


def format_time(value: datetime, seconds: bool = False) -> str:
    """`2025-01-31 12:00` in UTC (`2025-01-31 12:00:05` with `seconds`); a naive value is taken as UTC."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
