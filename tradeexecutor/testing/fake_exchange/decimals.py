"""Exact decimal helpers shared by the fake exchange.

Why: balances must change by exactly the amounts a test computes by hand, so all
arithmetic runs in a wide decimal context (no silent rounding at 28 digits) and
numbers leave the server as Binance-style fixed-point strings.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation

__all__ = ["CTX", "ceil_to", "fmt", "floor_to", "is_multiple", "parse_decimal", "to_decimal"]

#: Arithmetic context wide enough that products of prices, quantities and fee rates are exact.
CTX = Context(prec=80)

_ZERO = Decimal(0)


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of ``step`` (lot size / tick size)."""
    units = CTX.divide(value, step).to_integral_value(rounding=ROUND_FLOOR)
    return CTX.multiply(units, step)


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """Round up to a multiple of ``step``."""
    units = CTX.divide(value, step).to_integral_value(rounding=ROUND_CEILING)
    return CTX.multiply(units, step)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` sits exactly on the ``step`` grid."""
    return CTX.remainder(value, step) == _ZERO


def fmt(value: Decimal, places: int = 8) -> str:
    """Binance prints 8 decimals; keep more when the exact value needs them."""
    if value == _ZERO:
        value = _ZERO
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -places:
        value = value.quantize(Decimal(1).scaleb(-places), context=CTX)
    return format(value, "f")


def parse_decimal(text: str) -> Decimal:
    """Parse a request number; raises ValueError for anything Binance would refuse."""
    cleaned = text.strip()
    if not cleaned or any(ch not in "0123456789.-" for ch in cleaned):
        raise ValueError(text)
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not value.is_finite():
        raise ValueError(text)
    return value


def to_decimal(value: Decimal | str | int | float) -> Decimal:
    """Accept Python API numbers; floats go through ``str`` so 0.1 stays 0.1."""
    if isinstance(value, float):
        return Decimal(str(value))
    return Decimal(value)
