"""What a report shows, prepared from a `State` (and the prices its log observed) as plain data.

Nothing here draws: the figures (`plots.py`) and the page (`report_html.py`) read a `ReportData`.
Charts need floats; money in tables stays `Decimal` and is written by `format_money`.

* The equity curve, and buy-and-hold next to it: the initial equity put into the pair at the first
  observed price and held, valued at every observed price.
* The drawdown: the percentage the equity stands below its running peak.
* The price the strategy saw, with every fill on it (buys and sells).
Long series are thinned to about `MAX_CHART_POINTS` points, keeping each bucket's lowest and
highest value so that a crash between two kept points cannot vanish from the picture. Several
points at one timestamp (a cycle run twice on one candle) keep the last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from tradeexecutor.state.events import Event, MarketObserved
from tradeexecutor.state.position import Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side

__all__ = [
    "LAST_POSITIONS",
    "MAX_CHART_POINTS",
    "Marker",
    "ReportData",
    "RunDetails",
    "downsample",
    "drawdown_percent",
    "observed_prices",
    "prepare",
]

#: Most points a chart draws; more is invisible at screen resolution and bloats the file.
MAX_CHART_POINTS = 2000
#: Rows of the closed-positions table.
LAST_POSITIONS = 50

#: (seconds since the first valuation, value).
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class RunDetails:
    """How the run was set up, as the command line gave it (all optional)."""

    strategy: str | None = None
    parameters: Mapping[str, object] = field(default_factory=dict)
    data_file: str | None = None
    fee: Decimal | None = None
    slippage_bps: Decimal | None = None
    pair: str | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class Marker:
    """A fill drawn on the price chart."""

    at: datetime
    price: float
    side: Side


@dataclass(frozen=True, slots=True)
class ReportData:
    title: str
    details: RunDetails
    statistics: Sequence[tuple[str, str]]
    currency: str
    symbol: str
    executor_id: str | None
    start: datetime | None
    valuations: int
    equity: list[tuple[datetime, float]]
    buy_and_hold: list[tuple[datetime, float]]
    drawdown: list[tuple[datetime, float]]
    deepest: tuple[datetime, float] | None
    prices: list[tuple[datetime, float]]
    markers: list[Marker]
    closed_positions: list[Position]
    closed_total: int
    open_positions: list[Position]
    symbols: Mapping[int, str]
    fees_by_asset: Mapping[str, Decimal]

    @property
    def thinned(self) -> bool:
        return len(self.equity) < self.valuations


def drawdown_percent(values: Sequence[float]) -> list[float]:
    """Percent below the running peak (0 or negative) for each value of an equity curve.

    Computed on the full curve before any thinning, so the deepest point is exact.
    """
    result: list[float] = []
    peak = -math.inf
    for value in values:
        if value > peak:
            peak = value
        result.append((value / peak - 1.0) * 100.0 if peak > 0 else 0.0)
    return result


def downsample(points: Sequence[Point], max_points: int = MAX_CHART_POINTS) -> list[Point]:
    """At most `max_points` of `points`: the first, the last and each bucket's min and max.

    A fixed stride would silently drop the spikes a reader looks for; keeping both extremes of
    every bucket (in their original order) draws the same envelope with far fewer points.
    """
    count = len(points)
    if count <= max_points:
        return list(points)
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    buckets = (max_points - 2) // 2
    inner = count - 2
    result = [points[0]]
    for bucket in range(buckets):
        start = 1 + bucket * inner // buckets
        end = 1 + (bucket + 1) * inner // buckets
        low_index = high_index = start
        low = high = points[start][1]
        for index in range(start + 1, end):
            value = points[index][1]
            if value < low:
                low, low_index = value, index
            elif value > high:
                high, high_index = value, index
        if low_index == high_index:
            result.append(points[low_index])
        else:
            first, second = sorted((low_index, high_index))
            result.append(points[first])
            result.append(points[second])
    result.append(points[-1])
    return result


def observed_prices(events: Iterable[Event], pair_id: int) -> list[tuple[datetime, Decimal]]:
    """The close of every candle the strategy saw on the pair (`market_observed`), oldest first."""
    return [(e.at, e.close) for e in events if type(e) is MarketObserved and e.pair_id == pair_id]


def _last_per_time(series: Iterable[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    result: list[tuple[datetime, float]] = []
    for at, value in series:
        if result and result[-1][0] == at:
            result[-1] = (at, value)
        else:
            result.append((at, value))
    return result


def _thin(series: Sequence[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    if len(series) <= MAX_CHART_POINTS:
        return list(series)
    start = series[0][0]
    points = downsample([((at - start).total_seconds(), value) for at, value in series])
    return [(start + timedelta(seconds=seconds), value) for seconds, value in points]


def _prices(state: State, pair_id: int | None, observed: Sequence[tuple[datetime, Decimal]]) -> list[tuple[datetime, float]]:
    """The observed closes; without a log, the fills' prices stand in (a sparse line)."""
    if observed:
        return _last_per_time((at, float(price)) for at, price in observed)
    fills = sorted(
        (fill.at, float(fill.price))
        for trade in state.portfolio.trades.values()
        if trade.pair_id == pair_id
        for fill in trade.fills
    )
    return _last_per_time(fills)


def _buy_and_hold(
    equity: Sequence[tuple[datetime, float]], prices: Sequence[tuple[datetime, float]]
) -> list[tuple[datetime, float]]:
    """The initial equity held in the pair from the first price on, at each price within the curve."""
    if not equity or not prices or prices[0][1] <= 0:
        return []
    units = equity[0][1] / prices[0][1]
    first, last = equity[0][0], equity[-1][0]
    return [(at, price * units) for at, price in prices if first <= at <= last]


def _last_closed(state: State, count: int) -> list[Position]:
    """The `count` most recently closed positions, newest first."""
    closed = sorted(state.portfolio.closed_positions.values(), key=lambda p: (p.closed_at or p.opened_at, p.id))
    return closed[-count:][::-1]


def _fees_by_asset(state: State) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for trade in state.portfolio.trades.values():
        for fill in trade.fills:
            totals[fill.fee_asset] = totals.get(fill.fee_asset, Decimal(0)) + fill.fee
    return dict(sorted(totals.items()))


def prepare(
    state: State,
    statistics: Sequence[tuple[str, str]],
    title: str,
    details: RunDetails | None = None,
    events: Iterable[Event] | None = None,
    curve: Iterable[tuple[datetime, Decimal]] = (),
) -> ReportData:
    """Everything the figures and the page show; `events` (the log) gives the price series and
    `curve` (the equity file, `store.equity.read_curve`) the equity."""
    pair_id = min(state.pairs) if state.pairs else None
    pair = state.pairs.get(pair_id) if pair_id is not None else None
    observed = observed_prices(events, pair_id) if events is not None and pair_id is not None else []
    equity = _last_per_time((at, float(value)) for at, value in curve)
    drawdown = list(zip((at for at, _ in equity), drawdown_percent([v for _, v in equity]), strict=True))
    deepest = min(drawdown, key=lambda point: point[1]) if drawdown else None
    prices = _prices(state, pair_id, observed)
    markers = sorted(
        (
            Marker(fill.at, float(fill.price), trade.side)
            for trade in state.portfolio.trades.values()
            if trade.pair_id == pair_id
            for fill in trade.fills
        ),
        key=lambda marker: marker.at,
    )
    return ReportData(
        title=title,
        details=details or RunDetails(),
        statistics=list(statistics),
        currency=state.reserve_currency or "",
        symbol=pair.symbol if pair is not None else "",
        executor_id=state.executor_id,
        start=equity[0][0] if equity else None,
        valuations=len(equity),
        equity=_thin(equity),
        buy_and_hold=_thin(_buy_and_hold(equity, prices)),
        drawdown=_thin(drawdown),
        deepest=deepest,
        prices=_thin(prices),
        markers=markers,
        closed_positions=_last_closed(state, LAST_POSITIONS),
        closed_total=len(state.portfolio.closed_positions),
        open_positions=list(state.portfolio.live_positions()),
        symbols={pair.id: pair.symbol for pair in state.pairs.values()},
        fees_by_asset=_fees_by_asset(state),
    )
