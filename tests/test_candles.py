"""Tests for candle loading/writing: exact parsing, strict errors, speed."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import backtesting
import pytest

from tradeexecutor.market.candles import (
    CSV_HEADER,
    Candle,
    CandleDataError,
    load_candles,
    write_candles_csv,
)

BACKTESTING_DATA = Path(backtesting.__file__).parent / "test"
HEADER = "Date,Open,High,Low,Close,Volume\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _candle(at: datetime, o: str, h: str, lo: str, c: str, v: str) -> Candle:
    return Candle(at, Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))


# --------------------------------------------------------------------------- CSV happy paths


def test_goog_csv_from_backtesting_package() -> None:
    candles = load_candles(BACKTESTING_DATA / "GOOG.csv")
    assert len(candles) == 2148
    # Values copied from the first, second and last data lines of GOOG.csv.
    assert candles[0] == _candle(
        datetime(2004, 8, 19, tzinfo=UTC), "100", "104.06", "95.96", "100.34", "22351900"
    )
    assert candles[1] == _candle(
        datetime(2004, 8, 20, tzinfo=UTC), "101.01", "109.08", "100.5", "108.31", "11428600"
    )
    assert candles[-1] == _candle(
        datetime(2013, 3, 1, tzinfo=UTC), "797.8", "807.14", "796.15", "806.19", "2175400"
    )
    assert all(c.at.tzinfo is UTC for c in candles)
    assert str(candles[0].high) == "104.06"  # exact text, no float detour


def test_eurusd_hourly_csv_with_time_of_day() -> None:
    candles = load_candles(BACKTESTING_DATA / "EURUSD.csv")
    assert candles[0] == _candle(
        datetime(2017, 4, 19, 9, tzinfo=UTC), "1.0716", "1.0722", "1.07083", "1.07219", "1413"
    )
    assert candles[1].at - candles[0].at == timedelta(hours=1)


def test_date_forms_and_timezones(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "forms.csv",
        HEADER + "2025-01-01,1,2,1,2,0\n"
        "2025-01-01 01:00,1,2,1,2,0\n"
        "2025-01-01 02:00:30,1,2,1,2,0\n"
        "2025-01-01T03:00:00Z,1,2,1,2,0\n"
        "2025-01-01T06:00:00+02:00,1,2,1,2,0\n"
        "2025-01-01T05:00:00.250000+00:00,1,2,1,2,0\n",
    )
    times = [c.at for c in load_candles(path)]
    assert times == [
        datetime(2025, 1, 1, 0, tzinfo=UTC),
        datetime(2025, 1, 1, 1, tzinfo=UTC),
        datetime(2025, 1, 1, 2, 0, 30, tzinfo=UTC),
        datetime(2025, 1, 1, 3, tzinfo=UTC),
        datetime(2025, 1, 1, 4, tzinfo=UTC),
        datetime(2025, 1, 1, 5, 0, 0, 250000, tzinfo=UTC),
    ]
    assert all(t.tzinfo is UTC for t in times)


def test_header_variants_extra_columns_and_blank_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "variant.csv",
        "\ufefftimestamp,volume,close,low,high,open,Adj Close\n"
        "2025-01-01T00:00:00Z,5.5,10,9,11,10.5,99\n"
        "\n"
        "2025-01-01T01:00:00Z,0,10.25,10,10.5,10,99\n",
    )
    assert load_candles(path) == [
        _candle(datetime(2025, 1, 1, tzinfo=UTC), "10.5", "11", "9", "10", "5.5"),
        _candle(datetime(2025, 1, 1, 1, tzinfo=UTC), "10", "10.5", "10", "10.25", "0"),
    ]


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    candles = [
        _candle(
            datetime(2025, 1, 1, tzinfo=UTC), "0.00000001", "0.00000003", "0.00000001", "0.00000002", "1E+3"
        ),
        _candle(datetime(2025, 1, 1, 1, tzinfo=UTC), "30000.10", "30100", "29999.99", "30050.5", "12.3456"),
    ]
    path = tmp_path / "out" / "candles.csv"
    write_candles_csv(path, candles)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines() == [
        ",".join(CSV_HEADER),
        "2025-01-01T00:00:00Z,0.00000001,0.00000003,0.00000001,0.00000002,1000",
        "2025-01-01T01:00:00Z,30000.10,30100,29999.99,30050.5,12.3456",
    ]
    assert load_candles(path) == candles
    assert not [p for p in path.parent.iterdir() if p.name != "candles.csv"]  # no temp file left


def test_write_refuses_naive_or_invalid(tmp_path: Path) -> None:
    naive = _candle(datetime(2025, 1, 1), "1", "2", "1", "2", "0")
    with pytest.raises(ValueError, match="naive"):
        write_candles_csv(tmp_path / "x.csv", [naive])
    bad = _candle(datetime(2025, 1, 1, tzinfo=UTC), "1", "0.5", "1", "1", "0")
    with pytest.raises(ValueError, match="below low"):
        write_candles_csv(tmp_path / "x.csv", [bad])
    assert not (tmp_path / "x.csv").exists()


# --------------------------------------------------------------------------- JSON


def test_ccxt_json_numbers_and_strings(tmp_path: Path) -> None:
    rows = (
        "[[1735689600000, 93576.0, 94509.42, 93489.03, 94401.14, 0.1],"
        ' [1735693200000, "94401.14", "94988.01", "94256.47", "94849.66", "1234.56789"]]'
    )
    path = _write(tmp_path, "ohlcv.json", rows)
    candles = load_candles(path)
    assert candles == [
        _candle(datetime(2025, 1, 1, tzinfo=UTC), "93576.0", "94509.42", "93489.03", "94401.14", "0.1"),
        _candle(
            datetime(2025, 1, 1, 1, tzinfo=UTC), "94401.14", "94988.01", "94256.47", "94849.66", "1234.56789"
        ),
    ]
    assert str(candles[0].volume) == "0.1"  # not 0.1000000000000000055511151231257827


def test_json_round_trips_through_csv(tmp_path: Path) -> None:
    data = [[1735689600000 + i * 60_000, 10 + i, 11 + i, 9 + i, 10.5 + i, i] for i in range(5)]
    source = _write(tmp_path, "a.json", json.dumps(data))
    candles = load_candles(source)
    write_candles_csv(tmp_path / "a.csv", candles)
    assert load_candles(tmp_path / "a.csv") == candles


# --------------------------------------------------------------------------- CSV errors


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("Date,Open,High,Low,Close\n2025-01-01,1,2,1,2\n", 1, "missing column(s) Volume"),
        ("Foo,Open,High,Low,Close,Volume\n2025-01-01,1,2,1,2,3\n", 1, "missing column(s) Date"),
        (HEADER + "2025-01-01,1,2,1,2,3\n2025-01-02,1,2,abc,2,3\n", 3, "column Low: 'abc' is not a number"),
        (HEADER + "2025-01-01,1,2,1,2,3\n2025-01-02,1,2,,2,3\n", 3, "column Low: '' is not a number"),
        (HEADER + "2025-01-01,1,2,1,NaN,3\n", 2, "not a finite number"),
        (HEADER + "2025-01-01,1,2,1,2,3\n2025-01-02,1.5,1,2,1.5,3\n", 3, "high 1 is below low 2"),
        (HEADER + "2025-01-01,3,2,1,2,3\n", 2, "outside the high-low range"),
        (HEADER + "2025-01-01,1,2,1,2,3\n2025-01-01,1,2,1,2,3\n", 3, "not after the previous row"),
        (HEADER + "2025-01-02,1,2,1,2,3\n2025-01-01,1,2,1,2,3\n", 3, "strictly increasing"),
        (HEADER + "2025-01-01,1,2,1,2,3\n2025-01-02,1,2,1,2,-1\n", 3, "negative volume -1"),
        (HEADER + "2025-01-01,0,2,0,2,3\n", 2, "greater than zero"),
        (HEADER + "01/02/2025,1,2,1,2,3\n", 2, "unparseable timestamp '01/02/2025'"),
        (HEADER + "2025-01-01,1,2,1,2,3\n2025-01-02,1,2,1,2\n", 3, "row has 5 fields but the header has 6"),
    ],
)
def test_csv_errors_name_file_line_and_problem(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(CandleDataError) as info:
        load_candles(path)
    error = info.value
    assert error.line == line
    assert problem in error.problem
    message = str(error)
    assert str(path) in message
    assert f"line {line}:" in message
    assert error.remedy and error.remedy in message


@pytest.mark.parametrize(
    ("text", "problem"), [("", "file is empty"), ("\n\n", "file is empty"), (HEADER, "no candle rows")]
)
def test_csv_empty_files(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, "empty.csv", text)
    with pytest.raises(CandleDataError, match=problem) as info:
        load_candles(path)
    assert info.value.line is None
    assert str(path) in str(info.value)


def test_error_in_a_late_row_is_not_skipped(tmp_path: Path) -> None:
    rows = "".join(f"2025-01-01T{h:02d}:00:00Z,1,2,1,2,3\n" for h in range(20))
    path = _write(tmp_path, "late.csv", HEADER + rows + "2025-01-01T20:00:00Z,1,2,1,2,x\n")
    with pytest.raises(CandleDataError, match="line 22"):
        load_candles(path)


def test_header_line_number_counts_leading_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "blank.csv", "\n\nDate,Open,High,Low,Close\n2025-01-01,1,2,1,2\n")
    with pytest.raises(CandleDataError, match="line 3: missing column") as info:
        load_candles(path)
    assert info.value.line == 3


def test_error_survives_pickling(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.csv", HEADER + "2025-01-01,1,2,1,2,-1\n")
    with pytest.raises(CandleDataError) as info:
        load_candles(path)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.path, copy.line, copy.problem, str(copy)) == (path, 2, info.value.problem, str(info.value))


def test_unsupported_extension(tmp_path: Path) -> None:
    path = _write(tmp_path, "data.parquet", "")
    with pytest.raises(CandleDataError, match="unsupported file extension"):
        load_candles(path)


# --------------------------------------------------------------------------- JSON errors


@pytest.mark.parametrize(
    ("text", "index", "problem"),
    [
        ("[[1735689600000, 1, 2, 1, 2, 3], [1735693200000, 1, 2, 1, 2]]", 1, "row is 5 values"),
        ("[[1735689600000, 1, 2, 1, 2, 3], {}]", 1, "row is a dict"),
        ("[[1735689600000, 1, 2, 1, 2, null]]", 0, "volume: None is not a number"),
        ('[[1735689600000, "x", 2, 1, 2, 3]]', 0, "open: 'x' is not a number"),
        ("[[1735689600000, true, 2, 1, 2, 3]]", 0, "open: True is not a number"),
        ("[[1735689600000.5, 1, 2, 1, 2, 3]]", 0, "not a whole number of milliseconds"),
        ("[[1735689600000, 1, 2, 3, 2, 3]]", 0, "high 2 is below low 3"),
        ("[[1735689600000, 1, 2, 1, 2, 3], [1735689600000, 1, 2, 1, 2, 3]]", 1, "strictly increasing"),
        ("[[1735689600000, 1, 2, 1, 2, 3], [1735693200000, 1, 2, 1, 2, -3]]", 1, "negative volume"),
        ("[[1735689600, 1, 2, 1, 2, 3]]", 0, "looks like seconds, not milliseconds (read as milliseconds it is 1970-01-21)"),
        ("[[1735689600000000, 1, 2, 1, 2, 3]]", 0, "looks like microseconds or nanoseconds"),
    ],
)
def test_json_errors_name_row_index(tmp_path: Path, text: str, index: int, problem: str) -> None:
    path = _write(tmp_path, "bad.json", text)
    with pytest.raises(CandleDataError) as info:
        load_candles(path)
    assert info.value.line == index
    assert problem in info.value.problem
    assert f"row index {index}:" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "file is empty"),
        ("[]", "no candle rows"),
        ('{"data": []}', "expected an array"),
        ("[[1735689600000, NaN, 2, 1, 2, 3]]", "NaN"),
        ("[[1735689600000, 1, 2, 1, 2, 3]", "invalid JSON"),
    ],
)
def test_json_file_level_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = _write(tmp_path, "bad.json", text)
    with pytest.raises(CandleDataError, match=problem):
        load_candles(path)


# --------------------------------------------------------------------------- speed


def test_load_100k_rows_keeps_every_row_in_order(tmp_path: Path) -> None:
    """Speed is measured in bench/backtest.py, not asserted here (timed tests flake)."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    lines = [HEADER]
    for i in range(100_000):
        at = (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z")
        base = 20000 + (i % 997)
        lines.append(f"{at},{base}.25,{base + 3}.50,{base - 2}.75,{base + 1}.00,{i % 50}.1234\n")
    path = _write(tmp_path, "big.csv", "".join(lines))
    candles = load_candles(path)
    assert len(candles) == 100_000
    assert candles[-1].at == start + timedelta(minutes=99_999)
    assert candles[12_345].volume == Decimal("45.1234")


def test_equal_price_texts_share_one_decimal_and_keep_their_digits(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "shared.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "2025-01-01 00:00,100.50,101.00,100.00,100.75,3\n"
        "2025-01-01 01:00,100.75,101.0,100.50,101.00,4\n",
    )
    first, second = load_candles(path)
    assert second.open is first.close  # one object for the repeated text "100.75"
    assert second.low is first.open
    assert str(second.high) == "101.0" and str(first.high) == "101.00"  # "101.0" is not "101.00"
    assert second.close is first.high
