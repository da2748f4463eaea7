"""Request parameters of the fake exchange, parsed and refused the way Binance refuses them.

Why: ccxt sends every number as text; Binance answers a malformed or missing one with its own
codes (-1100 illegal characters, -1102 mandatory parameter), which ccxt maps to ``BadRequest``.
"""

from __future__ import annotations

from decimal import Decimal

from .decimals import parse_decimal
from .errors import BinanceError

__all__ = ["decimal_param", "integer_param", "limit_param", "required_param"]


def required_param(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def decimal_param(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_decimal(raw)
    except ValueError:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        ) from None


def integer_param(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'."
        ) from None


def limit_param(params: dict[str, str], default: int, maximum: int) -> int:
    value = integer_param(params, "limit", default)
    assert value is not None
    if value < 1:
        raise BinanceError(
            -1100, "Illegal characters found in parameter 'limit'; legal range is '^[1-9][0-9]*$'."
        )
    return min(value, maximum)
