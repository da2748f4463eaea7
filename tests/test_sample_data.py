"""Tests for the deterministic bundled sample data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from tradeexecutor.market.candles import Candle, load_candles
from tradeexecutor.market.sample_data import (
    SAMPLE_CANDLE_COUNT,
    SAMPLE_DATA_PATH,
    SAMPLE_START,
    generate_candles,
    generate_sample_candles,
    write_sample_file,
)

START = datetime(2025, 1, 1, tzinfo=UTC)


def test_generation_is_deterministic() -> None:
    first = generate_candles(500, START, timedelta(hours=1))
    second = generate_candles(500, START, timedelta(hours=1))
    assert first == second
    assert generate_candles(500, START, timedelta(hours=1), seed=8) != first


def test_generation_ignores_callers_decimal_context() -> None:
    expected = generate_candles(300, START, timedelta(minutes=5))
    with localcontext() as ctx:
        ctx.prec = 4
        assert generate_candles(300, START, timedelta(minutes=5)) == expected


def test_generator_output_is_pinned() -> None:
    # Guards against a Python/random change silently altering the bundled data.
    first = generate_sample_candles()[0]
    assert first == Candle(
        START,
        Decimal("30000.00"),
        Decimal("30158.61"),
        Decimal("29531.65"),
        Decimal("29546.64"),
        Decimal("1160.4110"),
    )


def test_committed_file_equals_fresh_generation(tmp_path: Path) -> None:
    fresh = write_sample_file(tmp_path / "sample.csv")
    assert fresh.read_bytes() == SAMPLE_DATA_PATH.read_bytes(), (
        "tradeexecutor/data/sample_btc_usdt_1h.csv is stale: run python -m tradeexecutor.market.sample_data"
    )
    assert load_candles(SAMPLE_DATA_PATH) == generate_sample_candles()


def test_sample_file_shape() -> None:
    candles = load_candles(SAMPLE_DATA_PATH)
    assert len(candles) == SAMPLE_CANDLE_COUNT == 2000
    assert candles[0].at == SAMPLE_START == START
    assert candles[-1].at == START + timedelta(hours=1999)
    assert all(b.at - a.at == timedelta(hours=1) for a, b in zip(candles, candles[1:], strict=False))


def test_candle_invariants_and_quantization() -> None:
    candles = generate_candles(3000, START, timedelta(hours=1), start_price=Decimal("1.50"), seed=3)
    for previous, candle in zip(candles, candles[1:], strict=False):
        assert candle.open == previous.close
    for candle in candles:
        assert candle.high >= max(candle.open, candle.close)
        assert candle.low <= min(candle.open, candle.close)
        assert candle.low > 0
        assert candle.volume >= 0
        for price in (candle.open, candle.high, candle.low, candle.close):
            assert price.as_tuple().exponent == -2
        assert candle.volume.as_tuple().exponent == -4


def _sma(values: list[float], n: int, i: int) -> float:
    return sum(values[i - n + 1 : i + 1]) / n


def test_sma_crossover_trades_several_times() -> None:
    closes = [float(c.close) for c in generate_sample_candles()]
    crossings = 0
    above: bool | None = None
    for i in range(49, len(closes)):
        now = _sma(closes, 20, i) > _sma(closes, 50, i)
        if above is not None and now != above:
            crossings += 1
        above = now
    assert crossings >= 10


def test_regimes_change_volatility_and_trend() -> None:
    closes = [c.close for c in generate_sample_candles()]
    moves = [abs(b / a - 1) for a, b in zip(closes, closes[1:], strict=False)]
    weekly = [sum(moves[i : i + 168]) / 168 for i in range(0, len(moves) - 168, 168)]
    assert max(weekly) > Decimal("1.5") * min(weekly)  # volatility is not constant
    weekly_returns = [closes[i + 168] / closes[i] - 1 for i in range(0, len(closes) - 168, 168)]
    assert any(r > Decimal("0.03") for r in weekly_returns)
    assert any(r < Decimal("-0.03") for r in weekly_returns)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1, "start": START}, "negative"),
        ({"n": 1, "start": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"n": 1, "start": START, "interval": timedelta(0)}, "interval"),
        ({"n": 1, "start": START, "start_price": Decimal("0")}, "start_price"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], message: str) -> None:
    kwargs.setdefault("interval", timedelta(hours=1))
    with pytest.raises(ValueError, match=message):
        generate_candles(**kwargs)  # type: ignore[arg-type]
