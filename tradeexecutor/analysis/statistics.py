"""Performance statistics computed from an equity curve, round trips and open positions.

Pure functions over plain inputs so the same code summarises a live run and a
backtest (both replay the event-sourced State into an equity curve, a list
of :class:`ClosedTrade` and a list of :class:`OpenTrade`). Results are written
to JSON read by JavaScript, so no value is ever NaN or Infinity.

What is counted where:

* ``number_of_trades`` ("Trades (closed round trips)") counts closed positions;
  win rate, profit factor and the averages are over these round trips only.
* ``open_positions`` counts positions still open at the end, marked to market;
  they count in the exposure time (until the end of the curve), in the fills
  and in the fees, and their unrealised PnL and notional are shown separately.
* ``number_of_fills`` and ``fees_paid`` cover every fill and fee of the run,
  open positions included.

Conventions:

* A metric is ``None`` when it is mathematically undefined for the input
  (e.g. Sharpe with zero volatility, win rate with no trades, profit factor
  with no losing trades) and ``0.0`` when the honest answer is zero (e.g. the
  total return or drawdown of a one-point curve).
* Fractions are floats: ``0.1234`` means 12.34 %. Money stays ``Decimal``.
* Annualisation uses a 365-day year (crypto trades every day). When
  ``periods_per_year`` is not given it is derived from the actual spacing of
  the curve: ``(points - 1) / (span / 365 days)``.
* Curves may hold several points at one timestamp (a restart that ran the
  same candle twice): the last value of each timestamp counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from tradeexecutor.analysis.formatting import MISSING, format_money, format_time

__all__ = [
    "YEAR",
    "ClosedTrade",
    "OpenTrade",
    "Statistics",
    "compute_statistics",
    "format_statistics",
]

#: Length of a year for annualisation; crypto markets never close.
YEAR = timedelta(days=365)

#: Standard deviations below this are float noise from a constant-return curve; treated as zero.
_ZERO_VOLATILITY = 1e-12

#: ``exp`` overflows just above 709; CAGR beyond that is not a meaningful number.
_MAX_EXPONENT = 700.0

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip (a closed position).

    ``pnl`` is the realised profit in quote currency *net of fees*; ``fees`` is
    the total fees paid for the round trip (already included in ``pnl``, kept
    for reporting); ``entry_value`` is the absolute notional at entry (> 0),
    used for the per-trade return; ``fills`` is how many fills the round trip took.
    """

    opened_at: datetime
    closed_at: datetime
    pnl: Decimal
    fees: Decimal
    entry_value: Decimal
    fills: int = 0


@dataclass(frozen=True, slots=True)
class OpenTrade:
    """A position still open at the end of the run, marked to market.

    ``pnl`` is its PnL at the mark *net of fees* (unrealised plus whatever part was
    realised by partial exits); ``fees`` are the fees paid so far; ``exposure`` is
    the absolute notional at the mark (quantity times mark price).
    """

    opened_at: datetime
    pnl: Decimal
    fees: Decimal
    exposure: Decimal
    fills: int = 0


@dataclass(frozen=True, slots=True)
class Statistics:
    """Summary of one run; see :func:`compute_statistics` for each formula."""

    total_return: float
    cagr: float | None
    annualised_volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration: timedelta
    win_rate: float | None
    profit_factor: float | None
    number_of_trades: int
    average_trade: Decimal | None
    average_trade_return: float | None
    exposure_time: float | None
    fees_paid: Decimal
    buy_and_hold_return: float | None
    start: datetime | None
    end: datetime | None
    initial_equity: Decimal | None
    final_equity: Decimal | None
    periods_per_year: float | None
    number_of_fills: int = 0
    open_positions: int = 0
    open_pnl: Decimal = _ZERO
    open_exposure: Decimal = _ZERO
    dust_value: Decimal = _ZERO

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe dict: Decimal as string (exact), datetime as ISO ``Z``, timedelta as seconds."""
        result: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, datetime):
                value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
            elif isinstance(value, timedelta):
                value = value.total_seconds()
            result[f.name] = value
        return result


def _checked_curve(name: str, curve: Sequence[tuple[datetime, Decimal]]) -> Sequence[tuple[datetime, Decimal]]:
    """Reject inputs that would make the statistics silently wrong; keep the last value of each
    timestamp (a cycle run twice on one candle records two points at the same time).

    A curve of a million points is a few hundred MB, so it is copied only when a time repeats; a
    valid curve without repeats is returned as it is."""
    previous: datetime | None = None
    for index, (at, value) in enumerate(curve):
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{name}[{index}]: timestamp {at!r} is naive; use timezone-aware UTC")
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{name}[{index}]: value {value!r} must be a finite Decimal")
        if previous is not None:
            if at < previous:
                raise ValueError(f"{name}[{index}]: timestamps must not go back ({at} after {previous})")
            if at == previous:
                return _last_per_time(curve)
        previous = at
    return curve


def _last_per_time(curve: Sequence[tuple[datetime, Decimal]]) -> list[tuple[datetime, Decimal]]:
    """The curve (already checked) with only the last point of each time."""
    result: list[tuple[datetime, Decimal]] = []
    for at, value in curve:
        if result and at == result[-1][0]:
            result[-1] = (at, value)
        else:
            result.append((at, value))
    return result


class _Values(Sequence[Decimal]):
    """The equity column of a curve, without copying it."""

    __slots__ = ("_curve",)

    def __init__(self, curve: Sequence[tuple[datetime, Decimal]]) -> None:
        self._curve = curve

    def __len__(self) -> int:
        return len(self._curve)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [value for _, value in self._curve[index]]
        return self._curve[index][1]

    def __iter__(self) -> Iterator[Decimal]:
        return (value for _, value in self._curve)


def _sample_stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n-1), two-pass with `math.fsum`.

    `statistics.stdev` works in exact fractions, which takes seconds on a 100,000-point curve;
    floats summed with fsum agree with it to about 1e-15 relative, plenty for a derived figure.
    """
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (len(values) - 1))


def _period_returns(values: Sequence[Decimal]) -> list[float]:
    """Simple returns ``r_i = e_i / e_(i-1) - 1``; 0 when ``e_(i-1) <= 0`` (nothing left to earn on).

    Returns are derived figures, so they are computed in floats (a Decimal division per point
    was a third of the time of the statistics of a long backtest).
    """
    returns: list[float] = []
    append = returns.append
    previous = float(values[0]) if values else 0.0
    for value in itertools.islice(values, 1, None):
        current = float(value)
        append(current / previous - 1.0 if previous > 0 else 0.0)
        previous = current
    return returns


def _drawdown(curve: Sequence[tuple[datetime, Decimal]]) -> tuple[float, timedelta]:
    """Max drawdown ``max_t (peak_t - e_t) / peak_t`` and the longest peak-to-recovery time.

    A drawdown lasts from the last time equity stood at its running peak until
    equity is back at or above that peak (or until the end of the curve if it
    never recovers), the same definition backtesting.py uses.
    """
    if not curve:
        return 0.0, timedelta(0)
    peak_at, peak = curve[0]
    worst = _ZERO
    longest = timedelta(0)
    in_drawdown = False
    with localcontext() as ctx:
        ctx.prec = 28
        for at, value in itertools.islice(curve, 1, None):
            if value >= peak:
                if in_drawdown:
                    longest = max(longest, at - peak_at)
                    in_drawdown = False
                peak, peak_at = value, at
                continue
            in_drawdown = True
            if peak > 0:
                worst = max(worst, (peak - value) / peak)
        if in_drawdown:
            longest = max(longest, curve[-1][0] - peak_at)
    return float(worst), longest


def _exposure(spans: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> float | None:
    """Fraction of ``[start, end]`` covered by the union of ``[opened_at, closed_at]`` intervals."""
    span = end - start
    if span <= timedelta(0):
        return None
    intervals = sorted(
        (max(opened, start), min(closed, end)) for opened, closed in spans if closed > start and opened < end
    )
    covered = timedelta(0)
    current_start: datetime | None = None
    current_end: datetime | None = None
    for begin, finish in intervals:
        if current_end is None or begin > current_end:
            if current_start is not None and current_end is not None:
                covered += current_end - current_start
            current_start, current_end = begin, finish
        elif finish > current_end:
            current_end = finish
    if current_start is not None and current_end is not None:
        covered += current_end - current_start
    return min(1.0, covered / span)


def _cagr(initial: Decimal, final: Decimal, span: timedelta) -> float | None:
    """``(final / initial) ** (1 / years) - 1``; ``None`` for a zero span, non-positive start or overflow."""
    if span <= timedelta(0) or initial <= 0:
        return None
    if final <= 0:
        return -1.0
    years = span / YEAR
    exponent = math.log(final / initial) / years
    if exponent > _MAX_EXPONENT:
        return None
    return math.expm1(exponent)


def compute_statistics(
    equity_curve: Sequence[tuple[datetime, Decimal]],
    closed: Sequence[ClosedTrade],
    benchmark_prices: Sequence[tuple[datetime, Decimal]] | None = None,
    periods_per_year: float | None = None,
    risk_free_rate: float = 0.0,
    open_trades: Sequence[OpenTrade] = (),
    other_fees: Decimal = _ZERO,
    dust_value: Decimal = _ZERO,
) -> Statistics:
    """Summarise a run from its equity curve (time, total equity), closed round trips and the
    positions still open at its end.

    Formulas (``r_i`` = per-period simple returns of the curve, ``P`` = periods per year):

    - total_return = final / initial - 1
    - cagr = (final / initial) ** (365 days / span) - 1
    - periods_per_year P = given value, else (points - 1) * 365 days / span
    - annualised_volatility = stdev(r, sample, n-1) * sqrt(P); None with fewer than 2 returns
    - risk-free per period rf_p = (1 + risk_free_rate) ** (1 / P) - 1
    - sharpe = mean(r - rf_p) / stdev(r) * sqrt(P); None if volatility is zero or undefined
    - sortino = mean(r - rf_p) / sqrt(mean(min(0, r - rf_p) ** 2)) * sqrt(P); None without downside
    - max_drawdown = max over t of (running_peak - e_t) / running_peak, a positive fraction
    - max_drawdown_duration = longest time from a peak until equity is back at it (or the end)
    - win_rate = trades with pnl > 0 / trades; None without trades
    - profit_factor = sum(pnl > 0) / |sum(pnl < 0)|; None when there is no losing trade
    - average_trade = mean(pnl) as Decimal in quote currency; None without trades
    - average_trade_return = mean(pnl / entry_value); None without trades
    - exposure_time = |union of [opened_at, closed_at]| / span, an open trade until the end;
      None for a zero span
    - number_of_fills = fills of the closed and the open trades
    - fees_paid = fees of the closed and the open trades + ``other_fees`` (fees outside them)
    - open_pnl, open_exposure = sums of the open trades' marked PnL and notional
    - dust_value = passed through: the worth of unsellable remainders written off at closing
    - buy_and_hold_return = last benchmark price / first - 1; None without benchmark
    """
    equity_curve = _checked_curve("equity_curve", equity_curve)
    if benchmark_prices is not None:
        benchmark_prices = _checked_curve("benchmark_prices", benchmark_prices)
    for index, trade in enumerate(closed):
        if trade.closed_at < trade.opened_at:
            raise ValueError(
                f"closed[{index}]: closed_at {trade.closed_at} is before opened_at {trade.opened_at}"
            )
        if trade.entry_value <= 0:
            raise ValueError(
                f"closed[{index}]: entry_value {trade.entry_value} must be positive (absolute notional)"
            )
    if periods_per_year is not None and not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError("periods_per_year must be a positive finite number")
    if not (math.isfinite(risk_free_rate) and risk_free_rate > -1):
        raise ValueError("risk_free_rate must be a finite number above -1")

    start = equity_curve[0][0] if equity_curve else None
    end = equity_curve[-1][0] if equity_curve else None
    initial = equity_curve[0][1] if equity_curve else None
    final = equity_curve[-1][1] if equity_curve else None
    values = _Values(equity_curve)
    span = (end - start) if start is not None and end is not None else timedelta(0)

    total_return = 0.0
    cagr: float | None = None
    if initial is not None and final is not None:
        if initial > 0:
            with localcontext() as ctx:
                ctx.prec = 28
                total_return = float(final / initial - 1)
        cagr = _cagr(initial, final, span)

    ppy = periods_per_year
    if ppy is None and span > timedelta(0):
        ppy = (len(equity_curve) - 1) * (YEAR / span)

    returns = _period_returns(values)
    volatility: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    if ppy is not None and returns:
        rf_period = math.expm1(math.log1p(risk_free_rate) / ppy)
        excess = returns if rf_period == 0 else [r - rf_period for r in returns]
        mean_excess = math.fsum(excess) / len(excess)
        if len(returns) >= 2:
            stdev = _sample_stdev(returns)
            if stdev < _ZERO_VOLATILITY:
                volatility = 0.0
            else:
                volatility = stdev * math.sqrt(ppy)
                sharpe = mean_excess / stdev * math.sqrt(ppy)
        downside = math.sqrt(math.fsum(min(0.0, x) ** 2 for x in excess) / len(excess))
        if downside >= _ZERO_VOLATILITY:
            sortino = mean_excess / downside * math.sqrt(ppy)

    max_drawdown, max_drawdown_duration = _drawdown(equity_curve)

    trades = len(closed)
    win_rate: float | None = None
    profit_factor: float | None = None
    average_trade: Decimal | None = None
    average_trade_return: float | None = None
    fees_paid = sum((t.fees for t in closed), _ZERO) + sum((t.fees for t in open_trades), _ZERO) + other_fees
    if trades:
        wins = sum(1 for t in closed if t.pnl > 0)
        win_rate = wins / trades
        gross_profit = sum((t.pnl for t in closed if t.pnl > 0), _ZERO)
        gross_loss = -sum((t.pnl for t in closed if t.pnl < 0), _ZERO)
        with localcontext() as ctx:
            ctx.prec = 28
            if gross_loss > 0:
                profit_factor = float(gross_profit / gross_loss)
            average_trade = sum((t.pnl for t in closed), _ZERO) / trades
            average_trade_return = math.fsum(float(t.pnl / t.entry_value) for t in closed) / trades

    exposure: float | None = None
    if start is not None and end is not None:
        spans = [(t.opened_at, t.closed_at) for t in closed] + [(t.opened_at, end) for t in open_trades]
        exposure = _exposure(spans, start, end)

    buy_and_hold: float | None = None
    if benchmark_prices:
        first_price = benchmark_prices[0][1]
        if first_price > 0:
            with localcontext() as ctx:
                ctx.prec = 28
                buy_and_hold = float(benchmark_prices[-1][1] / first_price - 1)

    return Statistics(
        total_return=total_return,
        cagr=cagr,
        annualised_volatility=volatility,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_drawdown,
        max_drawdown_duration=max_drawdown_duration,
        win_rate=win_rate,
        profit_factor=profit_factor,
        number_of_trades=trades,
        average_trade=average_trade,
        average_trade_return=average_trade_return,
        exposure_time=exposure,
        fees_paid=fees_paid,
        buy_and_hold_return=buy_and_hold,
        start=start,
        end=end,
        initial_equity=initial,
        final_equity=final,
        periods_per_year=ppy,
        number_of_fills=sum(t.fills for t in closed) + sum(t.fills for t in open_trades),
        open_positions=len(open_trades),
        open_pnl=sum((t.pnl for t in open_trades), _ZERO),
        open_exposure=sum((t.exposure for t in open_trades), _ZERO),
        dust_value=dust_value,
    )


def _percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.2f}%"


def _ratio(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _time(value: datetime | None) -> str:
    return MISSING if value is None else f"{format_time(value)} UTC"


def _duration(value: timedelta) -> str:
    """Compact ``3d 04h 00m`` form; seconds are dropped as noise for a summary table."""
    minutes = int(value.total_seconds()) // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d {hours:02d}h {minutes:02d}m"


def format_statistics(stats: Statistics) -> list[tuple[str, str]]:
    """Label/value rows for a human summary table; undefined metrics show as ``n/a``.

    Round trips (closed positions) and fills are counted in separate rows; the win rate, profit
    factor and averages are over the round trips; the open positions are shown at their mark.
    """
    span = stats.end - stats.start if stats.start is not None and stats.end is not None else timedelta(0)
    if stats.profit_factor is None and stats.number_of_trades:
        profit_factor = "n/a (no losing trades)"
    else:
        profit_factor = _ratio(stats.profit_factor)
    rows = [
        ("Start", _time(stats.start)),
        ("End", _time(stats.end)),
        ("Duration", _duration(span)),
        ("Initial equity", format_money(stats.initial_equity)),
        ("Final equity", format_money(stats.final_equity)),
        ("Total return", _percent(stats.total_return)),
        ("Buy & hold return", _percent(stats.buy_and_hold_return)),
        ("CAGR", _percent(stats.cagr)),
        ("Annualised volatility", _percent(stats.annualised_volatility)),
        ("Sharpe ratio", _ratio(stats.sharpe)),
        ("Sortino ratio", _ratio(stats.sortino)),
        ("Max drawdown", _percent(stats.max_drawdown)),
        ("Max drawdown duration", _duration(stats.max_drawdown_duration)),
        ("Exposure time", _percent(stats.exposure_time)),
        ("Trades (closed round trips)", str(stats.number_of_trades)),
        ("Win rate", _percent(stats.win_rate)),
        ("Profit factor", profit_factor),
        ("Average trade", format_money(stats.average_trade)),
        ("Average trade return", _percent(stats.average_trade_return)),
        ("Open positions", str(stats.open_positions)),
        ("Open exposure", format_money(stats.open_exposure)),
        ("Open PnL", format_money(stats.open_pnl)),
        ("Fills", str(stats.number_of_fills)),
        ("Fees paid", format_money(stats.fees_paid)),
    ]
    if stats.dust_value:
        rows.append(("Dust written off", format_money(stats.dust_value)))
    return rows
