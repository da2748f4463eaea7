"""OHLCV candles: the market data the strategies and the backtester consume.

Prices and volumes are kept as exact :class:`~decimal.Decimal` values parsed
from the text of the file, so a backtest never inherits float rounding from
its input. Loading is strict: a malformed row stops the load with a
:class:`CandleDataError` naming the file, the row and the problem, because a
silently skipped or mangled bar would make every result computed from the
data quietly wrong.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = [
    "CSV_HEADER",
    "Candle",
    "CandleDataError",
    "load_candles",
    "load_candles_csv",
    "load_candles_json",
    "write_candles_csv",
]

#: Header written by :func:`write_candles_csv`; the layout ``backtesting.py`` ships.
CSV_HEADER: tuple[str, ...] = ("Date", "Open", "High", "Low", "Close", "Volume")

#: Header names accepted for the timestamp column (compared case-insensitively).
_DATE_COLUMN_NAMES = ("date", "datetime", "time", "timestamp")

_PRICE_COLUMNS = ("open", "high", "low", "close")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``at`` is the UTC open time of the bar."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class CandleDataError(ValueError):
    """Market data file is malformed; the message says where, what and how to fix it.

    ``line`` is the 1-based line number for CSV files (and JSON syntax errors)
    and the 0-based row index for JSON rows; ``unit`` says which ("line" or
    "row index"). It is ``None`` when the problem concerns the whole file.
    """

    def __init__(
        self, path: str | Path, line: int | None, problem: str, remedy: str, unit: str = "line"
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        self.remedy = remedy
        self.unit = unit
        where = f"{self.path}" if line is None else f"{self.path}, {unit} {line}"
        super().__init__(f"{where}: {problem}. {remedy}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the structured fields when pickled/copied (e.g. across processes).
        return (type(self), (self.path, self.line, self.problem, self.remedy, self.unit))


def load_candles(path: str | Path) -> list[Candle]:
    """Load candles from ``.csv`` (backtesting.py layout) or ``.json`` (ccxt OHLCV rows).

    The format is chosen by file extension so the caller never has to say it twice.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return load_candles_csv(p)
    if suffix == ".json":
        return load_candles_json(p)
    raise CandleDataError(
        p,
        None,
        f"unsupported file extension {p.suffix!r}",
        "Use a .csv file with the header Date,Open,High,Low,Close,Volume or a .json file "
        "with ccxt-style [timestamp_ms, open, high, low, close, volume] rows",
    )


# --------------------------------------------------------------------------- CSV


def _to_utc(at: datetime) -> datetime:
    """Normalise to UTC; naive values are taken as UTC because exchanges report UTC."""
    if at.tzinfo is None or at.utcoffset() is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _header_columns(path: Path, header: list[str], line: int) -> tuple[int, int, int, int, int, int]:
    """Map the header to column indexes (date, open, high, low, close, volume) or fail loudly."""
    names = [name.strip().lower() for name in header]
    date_index: int | None = None
    for candidate in _DATE_COLUMN_NAMES:
        if candidate in names:
            date_index = names.index(candidate)
            break
    if date_index is None and names and names[0] == "":
        # pandas writes the DatetimeIndex as an unnamed first column (backtesting.py's files).
        date_index = 0
    missing: list[str] = []
    if date_index is None:
        missing.append("Date")
    indexes: list[int] = []
    for column in (*_PRICE_COLUMNS, "volume"):
        if column in names:
            indexes.append(names.index(column))
        else:
            missing.append(column.capitalize())
    if missing:
        raise CandleDataError(
            path,
            line,
            f"missing column(s) {', '.join(missing)} in header {','.join(header)!r}",
            "The first line must be a header like Date,Open,High,Low,Close,Volume "
            "(the Date column may also be named Datetime, Time or Timestamp, or be unnamed)",
        )
    assert date_index is not None
    return (date_index, indexes[0], indexes[1], indexes[2], indexes[3], indexes[4])


def _checked_csv_row(
    path: Path,
    line: int,
    header: list[str],
    columns: tuple[int, int, int, int, int, int],
    row: list[str],
    previous: datetime | None,
) -> Candle | None:
    """Slow path: parse one row field by field and raise a precise error for the first problem.

    Returns ``None`` for a blank line and the candle if the row is in fact valid.
    """
    if len(row) != len(header):
        if not any(cell.strip() for cell in row):
            return None  # blank line: carries no data
        raise CandleDataError(
            path,
            line,
            f"row has {len(row)} fields but the header has {len(header)}",
            "Fix the row so it has one value per header column (check for stray commas)",
        )
    text = row[columns[0]]
    try:
        at = _to_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise CandleDataError(
            path,
            line,
            f"unparseable timestamp {text!r}",
            "Use an ISO date or time such as 2025-01-01, 2025-01-01 13:00 or 2025-01-01T13:00:00Z",
        ) from None
    values: list[Decimal] = []
    for index in columns[1:]:
        raw = row[index]
        name = header[index].strip()
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise CandleDataError(
                path,
                line,
                f"column {name}: {raw!r} is not a number",
                "Write prices and volumes as plain decimal numbers such as 30123.45",
            ) from None
        if not value.is_finite():
            raise CandleDataError(
                path,
                line,
                f"column {name}: {raw!r} is not a finite number",
                "Replace NaN/Infinity with the real value or remove the bar at its source",
            )
        values.append(value)
    candle = Candle(at, values[0], values[1], values[2], values[3], values[4])
    problem = _candle_problem(candle, previous)
    if problem is not None:
        raise CandleDataError(path, line, problem[0], problem[1])
    return candle


def _read_header(path: Path, reader: Iterator[list[str]]) -> list[str]:
    """Return the first non-blank row, the header."""
    for row in reader:
        if any(cell.strip() for cell in row):
            return row
    raise CandleDataError(
        path,
        None,
        "file is empty (no header, no rows)",
        "Export the candles again; the file has no data",
    )


#: How many distinct price texts one load shares objects for (a bound on the table's own memory).
_INTERNED_PRICES = 1 << 20


def _price_interner() -> tuple[Callable[[str], Decimal | None], Callable[[str], Decimal]]:
    """Lookup and insert for one load's table of prices by their exact text.

    Prices repeat (the close of one bar is usually the open of the next, and ticks are coarse), and a
    Decimal is immutable, so equal texts share one object: a million candles hold a fraction of the
    Decimals. The key is the exact text, so "1.0" and "1.00" stay distinct and every value keeps the
    digits it was written with. Volumes rarely repeat and are not shared.
    """
    table: dict[str, Decimal] = {}

    def intern(text: str) -> Decimal:
        value = Decimal(text)
        if len(table) < _INTERNED_PRICES:
            table[text] = value
        return value

    return table.get, intern


def load_candles_csv(path: str | Path) -> list[Candle]:
    """Load a ``Date,Open,High,Low,Close,Volume`` CSV; extra columns are ignored, rows never are.

    Every row goes through a fast path of plain comparisons; anything unusual
    falls back to :func:`_checked_csv_row`, which re-parses it carefully and
    either accepts it or raises a precise :class:`CandleDataError`.
    """
    p = Path(path)
    candles: list[Candle] = []
    append = candles.append
    known, intern = _price_interner()
    fromisoformat = datetime.fromisoformat
    utc = UTC
    zero = _ZERO
    with p.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = _read_header(p, reader)
        columns = _header_columns(p, header, reader.line_num)
        i_date, i_open, i_high, i_low, i_close, i_volume = columns
        width = len(header)
        previous: datetime | None = None
        for row in reader:
            try:
                if len(row) == width:
                    at = fromisoformat(row[i_date])
                    if at.tzinfo is not utc:
                        at = _to_utc(at)
                    text = row[i_open]
                    o = known(text) or intern(text)
                    text = row[i_high]
                    h = known(text) or intern(text)
                    text = row[i_low]
                    lo = known(text) or intern(text)
                    text = row[i_close]
                    c = known(text) or intern(text)
                    v = Decimal(row[i_volume])
                    # A finite high bounds every price from above and low > 0 bounds them from below.
                    if (
                        (previous is None or at > previous)
                        and zero < lo <= o <= h
                        and lo <= c <= h
                        and h.is_finite()
                        and zero <= v
                        and v.is_finite()
                    ):
                        append(Candle(at, o, h, lo, c, v))
                        previous = at
                        continue
            except (ValueError, ArithmeticError):  # InvalidOperation is an ArithmeticError
                pass
            candle = _checked_csv_row(p, reader.line_num, header, columns, row, previous)
            if candle is not None:
                append(candle)
                previous = candle.at
    if not candles:
        raise CandleDataError(
            p, None, "file has a header but no candle rows", "Export the candles again with data"
        )
    return candles


def _candle_problem(candle: Candle, previous: datetime | None) -> tuple[str, str] | None:
    """Return (problem, remedy) if the bar is inconsistent, otherwise ``None``."""
    o, h, lo, c, v = candle.open, candle.high, candle.low, candle.close, candle.volume
    if previous is not None and candle.at <= previous:
        return (
            f"timestamp {candle.at.isoformat()} is not after the previous row's {previous.isoformat()} "
            "(timestamps must be strictly increasing)",
            "Sort the file by time and remove duplicate bars",
        )
    if o <= _ZERO or h <= _ZERO or lo <= _ZERO or c <= _ZERO:
        return (
            f"prices must be greater than zero (open={o}, high={h}, low={lo}, close={c})",
            "Remove or repair bars with zero or negative prices at the data source",
        )
    if h < lo:
        return (
            f"high {h} is below low {lo}",
            "Check the column order (Open,High,Low,Close) and repair the bar",
        )
    if h < o or h < c or lo > o or lo > c:
        return (
            f"open {o} / close {c} lie outside the high-low range [{lo}, {h}]",
            "Check the column order (Open,High,Low,Close) and repair the bar",
        )
    if v < _ZERO:
        return (f"negative volume {v}", "Volume must be zero or positive; repair the bar at its source")
    return None


# --------------------------------------------------------------------------- JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid number")


def _json_decimal(value: object) -> Decimal | None:
    """Accept JSON numbers (already Decimal) or numeric strings; anything else is ``None``."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
        return result
    return None


#: Millisecond timestamps below this (1973-03-03) are almost surely seconds; at or above the upper
#: bound (year 5138) they are micro- or nanoseconds. Either is refused rather than guessed, because
#: a guess that is wrong places every candle decades away without a word.
_MIN_PLAUSIBLE_MS = 100_000_000_000
_MAX_PLAUSIBLE_MS = 100_000_000_000_000


def _timestamp_unit_problem(stamp_ms: int) -> tuple[str, str] | None:
    """Why a JSON candle timestamp is not plausibly milliseconds, with the remedy; None if it is."""
    if 0 <= stamp_ms < _MIN_PLAUSIBLE_MS:
        as_ms = (_EPOCH + timedelta(milliseconds=stamp_ms)).strftime("%Y-%m-%d")
        return (
            f"looks like seconds, not milliseconds (read as milliseconds it is {as_ms})",
            "ccxt OHLCV timestamps are milliseconds since 1970-01-01 UTC: multiply the first column by 1000",
        )
    if stamp_ms >= _MAX_PLAUSIBLE_MS:
        return (
            "looks like microseconds or nanoseconds, not milliseconds",
            "ccxt OHLCV timestamps are milliseconds since 1970-01-01 UTC: divide the first column accordingly",
        )
    return None


def load_candles_json(path: str | Path) -> list[Candle]:
    """Load ccxt ``fetch_ohlcv`` output: ``[[timestamp_ms, open, high, low, close, volume], ...]``."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise CandleDataError(p, None, "file is empty", "Save the ccxt fetch_ohlcv() result as a JSON array")
    try:
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CandleDataError(
            p, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})", "Repair the JSON syntax"
        ) from None
    except ValueError as exc:
        raise CandleDataError(
            p, None, f"invalid JSON: {exc}", "Replace NaN/Infinity with real numbers"
        ) from None
    if not isinstance(data, list):
        raise CandleDataError(
            p,
            None,
            f"top-level JSON value is {type(data).__name__}, expected an array of rows",
            "Save the list returned by ccxt fetch_ohlcv() as is",
        )
    if not data:
        raise CandleDataError(
            p, None, "file contains no candle rows", "Fetch the candles again; the array is empty"
        )
    names = ("timestamp_ms", "open", "high", "low", "close", "volume")
    candles: list[Candle] = []
    previous: datetime | None = None
    for index, row in enumerate(data):
        if not isinstance(row, list) or len(row) != 6:
            shape = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
            raise CandleDataError(
                p,
                index,
                f"row is {shape}, expected [timestamp_ms, open, high, low, close, volume]",
                "Each row must be the 6-element array ccxt fetch_ohlcv() returns",
                unit="row index",
            )
        values: list[Decimal] = []
        for name, raw in zip(names, row, strict=True):
            value = _json_decimal(raw)
            if value is None or not value.is_finite():
                raise CandleDataError(
                    p,
                    index,
                    f"{name}: {raw!r} is not a number",
                    "Write numbers as JSON numbers or numeric strings (null/NaN are not allowed)",
                    unit="row index",
                )
            values.append(value)
        stamp = values[0]
        if stamp != stamp.to_integral_value():
            raise CandleDataError(
                p,
                index,
                f"timestamp_ms {row[0]!r} is not a whole number of milliseconds",
                "Timestamps must be integer milliseconds since 1970-01-01 UTC",
                unit="row index",
            )
        unit_problem = _timestamp_unit_problem(int(stamp))
        if unit_problem is not None:
            raise CandleDataError(p, index, f"timestamp_ms {row[0]} {unit_problem[0]}", unit_problem[1], unit="row index")
        try:
            at = _EPOCH + timedelta(milliseconds=int(stamp))
        except OverflowError:
            raise CandleDataError(
                p,
                index,
                f"timestamp_ms {row[0]!r} is out of range",
                "Timestamps must be integer milliseconds since 1970-01-01 UTC",
                unit="row index",
            ) from None
        candle = Candle(at, values[1], values[2], values[3], values[4], values[5])
        problem = _candle_problem(candle, previous)
        if problem is not None:
            raise CandleDataError(p, index, problem[0], problem[1], unit="row index")
        previous = at
        candles.append(candle)
    return candles


# --------------------------------------------------------------------------- writing


def _format_time(at: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, readable by pandas and by :func:`load_candles`."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def write_candles_csv(path: str | Path, candles: Iterable[Candle]) -> None:
    """Write candles in the ``Date,Open,High,Low,Close,Volume`` layout.

    Written atomically (temp file + rename) so a crash never leaves a truncated
    data file behind; the output is byte-for-byte reproducible for equal input.
    """
    p = Path(path)
    rows: list[Sequence[str]] = []
    previous: datetime | None = None
    for index, candle in enumerate(candles):
        if candle.at.tzinfo is None or candle.at.utcoffset() is None:
            raise ValueError(
                f"candle {index}: timestamp {candle.at!r} is naive; use timezone-aware UTC datetimes"
            )
        problem = _candle_problem(candle, previous)
        if problem is not None:
            raise ValueError(
                f"candle {index}: {problem[0]}; refusing to write a file that cannot be loaded back"
            )
        previous = candle.at
        rows.append(
            (
                _format_time(candle.at),
                format(candle.open, "f"),
                format(candle.high, "f"),
                format(candle.low, "f"),
                format(candle.close, "f"),
                format(candle.volume, "f"),
            )
        )
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(CSV_HEADER)
            writer.writerows(rows)
        # mkstemp creates 0600; data files are meant to be shared like any other file.
        os.chmod(tmp_name, p.stat().st_mode & 0o777 if p.exists() else 0o644)
        os.replace(tmp_name, p)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
