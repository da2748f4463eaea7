"""Candle data that drives the fake exchange's prices.

Why: tests and demos need deterministic, replayable prices. The fake exchange
walks a list of candles one step at a time; the current candle's close is the
market price and its high/low decide which resting limit orders fill. The candles are
the executor's own :class:`~tradeexecutor.market.candles.Candle` (one type on both sides);
Binance's millisecond times come from :func:`timestamp_ms`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradeexecutor.market.candles import Candle

__all__ = [
    "Candle",
    "CandleLike",
    "candle_at_ms",
    "default_candles",
    "infer_interval_ms",
    "load_candles_csv",
    "parse_timestamp_ms",
    "timestamp_ms",
    "to_candle",
    "to_candles",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def timestamp_ms(candle: Candle) -> int:
    """The candle's open time in ms since the epoch (Binance's kline times)."""
    return (candle.at - _EPOCH) // _MS


def candle_at_ms(ms: int) -> datetime:
    """The UTC time of `ms` since the epoch, exactly."""
    return _EPOCH + ms * _MS


#: A :class:`Candle` or a ``(timestamp_ms, open, high, low, close, volume)`` sequence.
CandleLike = Candle | Sequence[object]


def _to_decimal(value: object, what: str) -> Decimal:
    """Convert without binary float noise, so prices stay exact."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{what}: booleans are not numbers")
    if isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"{what}: not a number: {value!r}") from exc
        if not result.is_finite():
            raise ValueError(f"{what}: not a finite number: {value!r}")
        return result
    raise ValueError(f"{what}: unsupported type {type(value).__name__}")


def parse_timestamp_ms(value: object) -> int:
    """Accept ms integers, ISO dates and ISO datetimes (naive means UTC)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"cannot parse timestamp {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def to_candle(value: CandleLike) -> Candle:
    """Normalise one candle and check that its prices are consistent."""
    if isinstance(value, Candle):
        candle = value
    else:
        if isinstance(value, str | bytes) or len(value) != 6:
            raise ValueError(f"candle must have 6 fields (ts, o, h, l, c, v): {value!r}")
        ts, o, h, low, c, v = value
        candle = Candle(
            at=candle_at_ms(parse_timestamp_ms(ts)),
            open=_to_decimal(o, "open"),
            high=_to_decimal(h, "high"),
            low=_to_decimal(low, "low"),
            close=_to_decimal(c, "close"),
            volume=_to_decimal(v, "volume"),
        )
    stamp = timestamp_ms(candle)
    if candle.low > candle.high:
        raise ValueError(f"candle at {stamp}: low > high")
    if candle.low <= 0:
        raise ValueError(f"candle at {stamp}: prices must be positive")
    if not (candle.low <= candle.close <= candle.high and candle.low <= candle.open <= candle.high):
        raise ValueError(f"candle at {stamp}: open/close outside low..high")
    if candle.volume < 0:
        raise ValueError(f"candle at {stamp}: negative volume")
    return candle


def to_candles(values: Iterable[CandleLike]) -> list[Candle]:
    """Normalise a series; timestamps must be strictly increasing so klines are well defined."""
    candles = [to_candle(v) for v in values]
    if not candles:
        raise ValueError("at least one candle is required")
    for prev, cur in zip(candles, candles[1:], strict=False):
        if cur.at <= prev.at:
            raise ValueError(f"candle timestamps must increase: {timestamp_ms(prev)} then {timestamp_ms(cur)}")
    return candles


def infer_interval_ms(candles: Sequence[Candle]) -> int:
    """Smallest gap between candles; one minute when there is a single candle."""
    gaps = [timestamp_ms(b) - timestamp_ms(a) for a, b in zip(candles, candles[1:], strict=False)]
    return min(gaps) if gaps else 60_000


def load_candles_csv(path: str | Path) -> list[Candle]:
    """Load candle data with the executor's own loader (CSV `Date,Open,High,Low,Close,Volume`, as
    the `backtesting` package ships, or ccxt OHLCV JSON), so both sides read files identically."""
    from tradeexecutor.market.candles import load_candles

    return to_candles(load_candles(path))


def default_candles(
    count: int = 240,
    start_price: Decimal = Decimal("30000"),
    interval_ms: int = 60_000,
    start_ms: int = 1_700_000_000_000,
) -> list[Candle]:
    """A deterministic zig-zag series, so the server can run without a data file."""
    candles: list[Candle] = []
    price = start_price
    pattern = (
        Decimal("0.0010"),
        Decimal("-0.0006"),
        Decimal("0.0004"),
        Decimal("-0.0009"),
        Decimal("0.0003"),
    )
    for i in range(count):
        open_ = price
        close = (open_ * (1 + pattern[i % len(pattern)])).quantize(Decimal("0.01"))
        high = max(open_, close) + (start_price * Decimal("0.0002")).quantize(Decimal("0.01"))
        low = min(open_, close) - (start_price * Decimal("0.0002")).quantize(Decimal("0.01"))
        volume = Decimal(10 + (i * 7) % 13)
        candles.append(Candle(candle_at_ms(start_ms + i * interval_ms), open_, high, low, close, volume))
        price = close
    return candles


#: 2024-01-01T00:00:00Z, the start of `wave_candles`.
WAVE_START_MS = 1_704_067_200_000


def wave_candles(count: int, start_ms: int = WAVE_START_MS, interval_ms: int = 60_000) -> list[Candle]:
    """Candles waving ±0.2% around 30000, each reaching 0.3% below and above its body.

    A limit buy at 0.999 of a close therefore always fills on the next candle, and one at 0.9
    never does: live tests, the kill test and the live benchmark rely on that.
    """
    wave = (0, 1, 2, 1, 0, -1, -2, -1)
    cent = Decimal("0.01")
    candles = []
    previous = Decimal(30000)
    for index in range(count):
        close = (Decimal(30000) * (1 + Decimal(wave[index % len(wave)]) / 1000)).quantize(cent)
        high = (max(previous, close) * Decimal("1.003")).quantize(cent)
        low = (min(previous, close) * Decimal("0.997")).quantize(cent)
        candles.append(Candle(candle_at_ms(start_ms + index * interval_ms), previous, high, low, close, Decimal(100)))
        previous = close
    return candles
