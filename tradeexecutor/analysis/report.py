"""Backtest and paper-trading reports of a `State`: one HTML page or one PNG image.

Both are made with the standard library only, so a report can be written on a headless server
without a plotting stack and opened offline years later: the HTML page inlines its CSS and SVG
charts and references nothing outside itself, and the PNG is drawn by a small rasteriser and
encoded by hand (zlib-compressed scanlines in CRC-checked chunks).

The charts are the equity curve (with markers where positions were opened and closed) and the
drawdown, the percentage the equity stands below its running peak. Long curves are thinned to
about `MAX_CHART_POINTS` points, keeping each bucket's lowest and highest value so that a crash
between two kept points cannot vanish from the picture.
"""

from __future__ import annotations

import html
import math
import struct
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

from tradeexecutor.state.position import Position
from tradeexecutor.state.state import State

__all__ = [
    "EQUITY_RGB",
    "MAX_CHART_POINTS",
    "PNG_HEIGHT",
    "PNG_WIDTH",
    "downsample",
    "drawdown_percent",
    "encode_png",
    "render_html",
    "render_png",
    "write_report",
]

#: Most points a chart draws; more is invisible at screen resolution and bloats the file.
MAX_CHART_POINTS = 2000
#: Above this many entry/exit markers, thin ticks replace triangles so the curve stays visible.
MAX_TRIANGLES = 200
#: Rows of the closed-positions table.
LAST_POSITIONS = 50
PNG_WIDTH = 1200
PNG_HEIGHT = 700

RGB = tuple[int, int, int]
#: The equity line's colour; nothing else in the PNG uses it, so its pixels are the curve.
EQUITY_RGB: RGB = (31, 119, 180)
DRAWDOWN_FILL_RGB: RGB = (246, 178, 172)
DRAWDOWN_LINE_RGB: RGB = (200, 40, 40)
ENTRY_RGB: RGB = (44, 160, 44)
EXIT_RGB: RGB = (214, 39, 40)
GRID_RGB: RGB = (230, 230, 230)
AXIS_RGB: RGB = (110, 110, 110)
TEXT_RGB: RGB = (40, 40, 40)
BACKGROUND_RGB: RGB = (255, 255, 255)

_HTML_SUFFIXES = (".html", ".htm")
_PNG_SUFFIX = ".png"

#: (seconds since the first valuation, value): charts only need floats, money stays Decimal.
Point = tuple[float, float]


def write_report(path: Path, state: State, statistics_rows: list[tuple[str, str]], title: str) -> Path:
    """Write the report of `state` to `path`, as HTML (`.html`/`.htm`) or PNG (`.png`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _HTML_SUFFIXES:
        path.write_text(render_html(state, statistics_rows, title), encoding="utf-8")
    elif suffix == _PNG_SUFFIX:
        path.write_bytes(render_png(state, statistics_rows, title))
    else:
        raise ValueError(
            f"cannot write a report as {suffix or 'a file without suffix'!r} ({path}); "
            "use one of .html, .htm or .png"
        )
    return path


# --- the data behind both charts ------------------------------------------------------------


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


@dataclass(slots=True, frozen=True)
class _Series:
    """What both renderers draw, already thinned; times are seconds after `start`."""

    start: datetime
    span: float
    equity: list[Point]
    drawdown: list[Point]
    deepest: Point
    entries: list[Point]
    exits: list[Point]
    currency: str


def _series(state: State) -> _Series | None:
    valuations = state.valuations
    if not valuations:
        return None
    start = valuations[0].at
    times = [(point.at - start).total_seconds() for point in valuations]
    values = [float(point.equity) for point in valuations]
    drawdown = list(zip(times, drawdown_percent(values), strict=True))
    deepest = min(drawdown, key=lambda point: point[1])
    span = times[-1]

    def at_equity(moments: Iterable[datetime]) -> list[Point]:
        """Marker positions on the drawn line, interpolated between the valuations around each
        moment; moments outside the curve have no equity to sit on and are left out."""
        result = []
        for moment in moments:
            seconds = (moment - start).total_seconds()
            if not 0 <= seconds <= span:
                continue
            index = bisect_right(times, seconds) - 1
            value = values[index]
            if index + 1 < len(times) and times[index + 1] > times[index]:
                share = (seconds - times[index]) / (times[index + 1] - times[index])
                value += (values[index + 1] - value) * share
            result.append((seconds, value))
        return result

    portfolio = state.portfolio
    positions: list[Position] = [
        *portfolio.open_positions.values(),
        *portfolio.frozen_positions.values(),
        *portfolio.closed_positions.values(),
    ]
    return _Series(
        start=start,
        span=span,
        equity=downsample(list(zip(times, values, strict=True))),
        drawdown=downsample(drawdown),
        deepest=deepest,
        entries=at_equity(position.opened_at for position in positions),
        exits=at_equity(p.closed_at for p in portfolio.closed_positions.values() if p.closed_at is not None),
        currency=state.reserve_currency or "",
    )


def _equity_range(points: Sequence[Point]) -> tuple[float, float]:
    low = min(value for _, value in points)
    high = max(value for _, value in points)
    pad = (high - low) * 0.06 if high > low else max(abs(high) * 0.001, 1.0)
    return low - pad, high + pad


def _drawdown_range(deepest: float) -> tuple[float, float]:
    """From a little below the deepest point up to exactly zero, the top of the chart; scaled
    to the data like the equity chart, so a shallow drawdown is still readable (the tick labels
    give its size). A curve that never fell gets a nominal 1% axis."""
    return (deepest * 1.08 if deepest < -1e-4 else -1.0), 0.0


@dataclass(slots=True, frozen=True)
class _Frame:
    """The plot area in pixels and the data range it shows; maps data to pixel coordinates."""

    left: float
    top: float
    right: float
    bottom: float
    span: float
    low: float
    high: float

    def x(self, seconds: float) -> float:
        if self.span <= 0:
            return (self.left + self.right) / 2
        return self.left + seconds / self.span * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)


# --- axis ticks and labels ------------------------------------------------------------------


def _value_ticks(low: float, high: float, target: int = 5) -> tuple[list[float], int]:
    """Round tick values (1, 2 or 5 times a power of ten) inside `[low, high]` and the number
    of decimals their labels need."""
    raw = (high - low) / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude * (1 + 1e-9))
    decimals = min(8, max(0, -math.floor(math.log10(step) + 1e-9)))
    first = math.ceil(low / step - 1e-9)
    ticks = []
    index = first
    while index * step <= high + step * 1e-9:
        value = index * step
        ticks.append(0.0 if abs(value) < step * 1e-6 else value)
        index += 1
    return ticks, decimals


def _value_label(value: float, decimals: int, suffix: str = "") -> str:
    return f"{value:,.{decimals}f}{suffix}"


_SECOND, _MINUTE, _HOUR, _DAY = 1, 60, 3600, 86400
_TIME_STEPS = (
    *(_SECOND * n for n in (1, 2, 5, 10, 15, 30)),
    *(_MINUTE * n for n in (1, 2, 5, 10, 15, 30)),
    *(_HOUR * n for n in (1, 2, 3, 6, 12)),
    *(_DAY * n for n in (1, 2, 7, 14, 30, 61, 91, 182, 365)),
)


def _time_ticks(start: datetime, span: float, target: int = 6) -> list[tuple[float, str]]:
    """Ticks on round UTC times (every 5 minutes, 6 hours, 7 days...) labelled with the date,
    the time or both, depending on the step."""
    if span <= 0:
        return [(0.0, start.strftime("%Y-%m-%d %H:%M"))]
    step = next((s for s in _TIME_STEPS if span / s <= target), None)
    if step is None:
        step = _DAY * 365 * math.ceil(span / (_DAY * 365 * target))
    if step < _MINUTE:
        pattern = "%H:%M:%S"
    elif step < _DAY:
        pattern = "%m-%d %H:%M"
    else:
        pattern = "%Y-%m-%d"
    origin = start.timestamp()
    tick = math.ceil(origin / step) * step
    ticks = []
    while tick - origin <= span:
        moment = datetime.fromtimestamp(tick, UTC)
        ticks.append((tick - origin, moment.strftime(pattern)))
        tick += step
    return ticks


def _time_text(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: Decimal) -> str:
    """Signed, two decimals, half-even whatever the thread's decimal context says."""
    with localcontext() as context:
        context.rounding = ROUND_HALF_EVEN
        return f"{value:+,.2f}"


# --- HTML -----------------------------------------------------------------------------------

_SVG_WIDTH = 960
_EQUITY_HEIGHT = 340
_DRAWDOWN_HEIGHT = 220
_SVG_CHAR_WIDTH = 6.6  # average width of an 11 px sans-serif digit, for the left margin

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1000px; color: #222; background: #fff; padding: 0 12px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 0.5em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.stats td:first-child { color: #555; }
.pos { color: #1a7f1a; } .neg { color: #c62828; }
.note, .legend { color: #666; font-size: 0.9em; }
.no-data { padding: 16px; background: #f6f6f6; border: 1px solid #ddd; }
svg.chart { max-width: 100%; height: auto; display: block; }
svg.chart text { font-size: 11px; fill: #444; font-family: inherit; }
svg.chart .grid { stroke: #e6e6e6; stroke-width: 1; }
svg.chart .frame { fill: none; stroke: #888; stroke-width: 1; }
svg.chart .equity { fill: none; stroke: rgb(31,119,180); stroke-width: 1.5; stroke-linejoin: round; }
svg.chart .drawdown-area { fill: rgba(214,39,40,0.35); stroke: rgb(200,40,40); stroke-width: 1;
                           stroke-linejoin: round; }
svg.chart .entries, .legend .entry { fill: rgb(44,160,44); color: rgb(44,160,44); }
svg.chart .exits, .legend .exit { fill: rgb(214,39,40); color: rgb(214,39,40); }
svg.chart .entries.ticks { fill: none; stroke: rgb(44,160,44); stroke-width: 1; }
svg.chart .exits.ticks { fill: none; stroke: rgb(214,39,40); stroke-width: 1; }
svg.chart .deepest { fill: rgb(200,40,40); }
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _coordinates(frame: _Frame, points: Iterable[Point]) -> list[str]:
    return [f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in points]


def _svg_chart(
    name: str,
    label: str,
    height: int,
    series: _Series,
    value_range: tuple[float, float],
    y_title: str,
    suffix: str,
) -> tuple[_Frame, list[str]]:
    """The `<svg>` start tag, grid, tick labels and axis titles of one chart, and its frame.

    The frame's geometry and value range are repeated as `data-` attributes so that a reader
    (or a test) can turn pixel coordinates back into values.
    """
    low, high = value_range
    ticks, decimals = _value_ticks(low, high)
    labels = [_value_label(tick, decimals, suffix) for tick in ticks]
    left = 34 + _SVG_CHAR_WIDTH * max(len(text) for text in labels)
    frame = _Frame(left, 14, _SVG_WIDTH - 18, height - 44, series.span, low, high)
    parts = [
        f'<svg class="chart" id="{name}-chart" data-chart="{name}" width="{_SVG_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_SVG_WIDTH} {height}" role="img" aria-label="{_esc(label)}" '
        f'data-plot-left="{frame.left:.1f}" data-plot-right="{frame.right:.1f}" '
        f'data-plot-top="{frame.top:.1f}" data-plot-bottom="{frame.bottom:.1f}" '
        f'data-value-min="{low!r}" data-value-max="{high!r}">',
        f"<title>{_esc(label)}</title>",
    ]
    for tick, text in zip(ticks, labels, strict=True):
        y = frame.y(tick)
        parts.append(
            f'<line class="grid" x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.right:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(f'<text x="{frame.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">{_esc(text)}</text>')
    for seconds, text in _time_ticks(series.start, series.span):
        x = frame.x(seconds)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{frame.bottom:.1f}"/>'
        )
        if x + len(text) * _SVG_CHAR_WIDTH / 2 > _SVG_WIDTH:
            continue  # a label cut by the edge reads as a wrong date
        parts.append(
            f'<text x="{x:.1f}" y="{frame.bottom + 16:.1f}" text-anchor="middle">{_esc(text)}</text>'
        )
    parts.append(
        f'<rect class="frame" x="{frame.left:.1f}" y="{frame.top:.1f}" '
        f'width="{frame.right - frame.left:.1f}" height="{frame.bottom - frame.top:.1f}"/>'
    )
    middle_x = (frame.left + frame.right) / 2
    middle_y = (frame.top + frame.bottom) / 2
    parts.append(
        f'<text x="{middle_x:.1f}" y="{height - 6}" text-anchor="middle">'
        f"Time (UTC) from {_esc(_time_text(series.start))}</text>"
    )
    parts.append(
        f'<text x="14" y="{middle_y:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle_y:.1f})">{_esc(y_title)}</text>'
    )
    return frame, parts


def _marker_pixels(frame: _Frame, points: Iterable[Point]) -> list[tuple[int, int]]:
    """Marker positions rounded to whole pixels, each once: a busy strategy's thousands of
    positions cost at most one marker per pixel."""
    return sorted({(round(frame.x(t)), round(frame.y(v))) for t, v in points})


def _marker_path(pixels: Sequence[tuple[int, int]], pointing_up: bool, ticks: bool) -> str:
    """One path of markers: entries below the curve pointing up, exits above it pointing down;
    short vertical ticks instead of triangles when there are too many to tell apart."""
    sign = 1 if pointing_up else -1
    if ticks:
        return "".join(f"M{x},{y + 2 * sign}v{5 * sign}" for x, y in pixels)
    return "".join(f"M{x},{y + 2 * sign}l-4,{7 * sign}h8z" for x, y in pixels)


def _equity_svg(series: _Series) -> str:
    currency = f" ({series.currency})" if series.currency else ""
    frame, parts = _svg_chart(
        "equity",
        "Equity curve",
        _EQUITY_HEIGHT,
        series,
        _equity_range(series.equity),
        f"Equity{currency}",
        "",
    )
    entries = _marker_pixels(frame, series.entries)
    exits = _marker_pixels(frame, series.exits)
    ticks = len(entries) + len(exits) > MAX_TRIANGLES
    shape = " ticks" if ticks else ""
    if entries:
        parts.append(
            f'<path class="entries{shape}" d="{_marker_path(entries, True, ticks)}"><title>position opened</title></path>'
        )
    if exits:
        parts.append(
            f'<path class="exits{shape}" d="{_marker_path(exits, False, ticks)}"><title>position closed</title></path>'
        )
    points = _coordinates(frame, series.equity)
    parts.append(f'<polyline class="equity" points="{" ".join(points)}"/>')
    if len(points) == 1:
        x, y = points[0].split(",")
        parts.append(f'<circle class="equity-point" cx="{x}" cy="{y}" r="3" fill="rgb(31,119,180)"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def _drawdown_svg(series: _Series) -> str:
    frame, parts = _svg_chart(
        "drawdown",
        "Drawdown below the running peak",
        _DRAWDOWN_HEIGHT,
        series,
        _drawdown_range(series.deepest[1]),
        "Drawdown (%)",
        "%",
    )
    zero = frame.y(0.0)
    first_x = frame.x(series.drawdown[0][0])
    last_x = frame.x(series.drawdown[-1][0])
    points = _coordinates(frame, series.drawdown)
    path = f"M{first_x:.1f},{zero:.1f} L" + " L".join(points) + f" L{last_x:.1f},{zero:.1f} Z"
    parts.append(f'<path class="drawdown-area" d="{path}"/>')
    t, value = series.deepest
    x, y = frame.x(t), frame.y(value)
    parts.append(f'<circle class="deepest" cx="{x:.1f}" cy="{y:.1f}" r="3"/>')
    anchor = "end" if x > (frame.left + frame.right) / 2 else "start"
    offset = -6 if anchor == "end" else 6
    parts.append(
        f'<text class="deepest-label" x="{x + offset:.1f}" y="{min(y + 4, frame.bottom - 4):.1f}" '
        f'text-anchor="{anchor}">{_esc(f"max {value:.2f}%")}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _statistics_table(rows: Sequence[tuple[str, str]]) -> str:
    if not rows:
        return '<p class="note">No statistics.</p>'
    body = "\n".join(
        f'<tr><td>{_esc(label)}</td><td class="num">{_esc(value)}</td></tr>' for label, value in rows
    )
    return f'<table class="stats">\n<tbody>\n{body}\n</tbody>\n</table>'


def _last_closed(state: State, count: int) -> list[Position]:
    """The `count` most recently closed positions, newest first."""
    closed = sorted(
        state.portfolio.closed_positions.values(),
        key=lambda p: (p.closed_at or p.opened_at, p.id),
    )
    return closed[-count:][::-1]


def _positions_table(state: State) -> str:
    positions = _last_closed(state, LAST_POSITIONS)
    if not positions:
        return '<p class="note">No closed positions.</p>'
    currency = f" ({state.reserve_currency})" if state.reserve_currency else ""
    rows = []
    for position in positions:
        pair = state.pairs.get(position.pair_id)
        pnl = position.net_pnl
        css = "pos" if pnl > 0 else "neg" if pnl < 0 else ""
        rows.append(
            "<tr>"
            f'<td class="num">{position.id}</td>'
            f"<td>{_esc(pair.symbol if pair else position.pair_id)}</td>"
            f"<td>{_esc(_time_text(position.opened_at))}</td>"
            f"<td>{_esc(_time_text(position.closed_at))}</td>"
            f"<td>{_esc(position.direction.value)}</td>"
            f'<td class="num {css}">{_esc(_money(pnl))}</td>'
            "</tr>"
        )
    header = (
        '<tr><th class="num">#</th><th>Pair</th><th>Opened (UTC)</th><th>Closed (UTC)</th>'
        f'<th>Direction</th><th class="num">Net PnL{_esc(currency)}</th></tr>'
    )
    return (
        f'<table class="positions">\n<thead>{header}</thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def render_html(state: State, statistics_rows: Sequence[tuple[str, str]], title: str) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no external references)."""
    series = _series(state)
    total = len(state.portfolio.closed_positions)
    shown = min(total, LAST_POSITIONS)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
    ]
    if state.executor_id:
        parts.append(
            f'<p class="note">Executor {_esc(state.executor_id)}, {len(state.valuations)} valuation points, '
            f"{total} closed positions.</p>"
        )
    parts += ["<h2>Statistics</h2>", _statistics_table(statistics_rows)]
    if series is None:
        parts.append(
            '<p class="no-data">No data: the state has no valuations yet, so there is no equity '
            "curve or drawdown to chart.</p>"
        )
    else:
        note = ""
        if len(series.equity) < len(state.valuations):
            note = (
                f'<p class="note">{len(state.valuations)} points drawn as {len(series.equity)}, keeping the '
                "lowest and highest value of each interval.</p>"
            )
        parts += [
            "<h2>Equity</h2>",
            _equity_svg(series),
            '<p class="legend"><span class="entry">&#9650;</span> position opened '
            '<span class="exit">&#9660;</span> position closed</p>',
            *([note] if note else []),
            "<h2>Drawdown</h2>",
            _drawdown_svg(series),
            f'<p class="note">Percent below the running peak of equity; deepest {series.deepest[1]:.2f}% at '
            f"{_esc(_time_text(series.start + timedelta(seconds=series.deepest[0])))} UTC.</p>",
        ]
    heading = (
        f"Last {shown} closed positions (newest first)"
        if total > shown
        else "Closed positions (newest first)"
    )
    parts += [f"<h2>{_esc(heading)}</h2>", _positions_table(state), "</body>", "</html>"]
    return "\n".join(parts) + "\n"


# --- PNG ------------------------------------------------------------------------------------

# A 5x7 bitmap font: seven rows of five bits (most significant = leftmost) per character.
_FONT_ROWS = {
    "0": "0E11131519110E",
    "1": "040C040404040E",
    "2": "0E11010204081F",
    "3": "1F02040201110E",
    "4": "02060A121F0202",
    "5": "1F101E0101110E",
    "6": "0608101E11110E",
    "7": "1F010204080808",
    "8": "0E11110E11110E",
    "9": "0E11110F01020C",
    "A": "0E1111111F1111",
    "B": "1E11111E11111E",
    "C": "0E11101010110E",
    "D": "1C12111111121C",
    "E": "1F10101E10101F",
    "F": "1F10101E101010",
    "G": "0E11101711110F",
    "H": "1111111F111111",
    "I": "0E04040404040E",
    "J": "0702020202120C",
    "K": "11121418141211",
    "L": "1010101010101F",
    "M": "111B1515111111",
    "N": "11111915131111",
    "O": "0E11111111110E",
    "P": "1E11111E101010",
    "Q": "0E11111115120D",
    "R": "1E11111E141211",
    "S": "0F10100E01011E",
    "T": "1F040404040404",
    "U": "1111111111110E",
    "V": "11111111110A04",
    "W": "1111111515150A",
    "X": "11110A040A1111",
    "Y": "1111110A040404",
    "Z": "1F01020408101F",
    "-": "0000001F000000",
    ".": "00000000000C0C",
    ",": "000000000C0408",
    ":": "000C0C000C0C00",
    "%": "18190204081303",
    "/": "00010204081000",
    "+": "0004041F040400",
    "(": "02040808080402",
    ")": "08040202020408",
    "&": "0C12140815120D",
    "?": "0E110102040004",
    "_": "0000000000001F",
    "#": "0A0A1F0A1F0A0A",
    "=": "00001F001F0000",
    "'": "04040800000000",
    "!": "04040404040004",
    " ": "00000000000000",
}
_FONT: dict[str, tuple[int, ...]] = {
    char: tuple(int(rows[i : i + 2], 16) for i in range(0, 14, 2)) for char, rows in _FONT_ROWS.items()
}
_GLYPH_ADVANCE = 6  # five columns and one of space


class _Canvas:
    """An RGB image in one bytearray (row-major, 3 bytes a pixel) with clipped drawing calls."""

    def __init__(self, width: int, height: int, background: RGB = BACKGROUND_RGB) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def pixel(self, x: int, y: int, colour: bytes) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            index = (y * self.width + x) * 3
            self.pixels[index : index + 3] = colour

    def hline(self, x0: int, x1: int, y: int, colour: bytes) -> None:
        if not 0 <= y < self.height:
            return
        x0, x1 = max(0, min(x0, x1)), min(self.width - 1, max(x0, x1))
        if x0 <= x1:
            start = (y * self.width + x0) * 3
            self.pixels[start : start + (x1 - x0 + 1) * 3] = colour * (x1 - x0 + 1)

    def vline(self, x: int, y0: int, y1: int, colour: bytes) -> None:
        if not 0 <= x < self.width:
            return
        y0, y1 = max(0, min(y0, y1)), min(self.height - 1, max(y0, y1))
        stride = self.width * 3
        for index in range((y0 * self.width + x) * 3, (y1 * self.width + x) * 3 + 1, stride):
            self.pixels[index : index + 3] = colour

    def rectangle(self, x0: int, y0: int, x1: int, y1: int, colour: bytes) -> None:
        self.hline(x0, x1, y0, colour)
        self.hline(x0, x1, y1, colour)
        self.vline(x0, y0, y1, colour)
        self.vline(x1, y0, y1, colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: bytes) -> None:
        """Bresenham's line, every octant, both end points included."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        step_x = 1 if x0 < x1 else -1
        step_y = 1 if y0 < y1 else -1
        error = dx + dy
        while True:
            self.pixel(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * error
            if doubled >= dy:
                error += dy
                x0 += step_x
            if doubled <= dx:
                error += dx
                y0 += step_y

    def text(self, x: int, y: int, text: str, colour: bytes, scale: int = 1) -> None:
        """Draw `text` upper-cased in the built-in font; unknown characters show as `?`."""
        for char in text.upper():
            rows = _FONT.get(char, _FONT["?"])
            for row, bits in enumerate(rows):
                for column in range(5):
                    if bits & (0x10 >> column):
                        for sy in range(scale):
                            top = y + row * scale + sy
                            self.hline(x + column * scale, x + column * scale + scale - 1, top, colour)
            x += _GLYPH_ADVANCE * scale


def _text_width(text: str, scale: int = 1) -> int:
    return len(text) * _GLYPH_ADVANCE * scale - scale if text else 0


def encode_png(width: int, height: int, pixels: bytes | bytearray, title: str = "") -> bytes:
    """A truecolour 8-bit PNG of `pixels` (RGB, row-major): signature, IHDR, tEXt, IDAT, IEND.

    Every scanline uses filter 0 (none): zlib still shrinks the large flat areas of a chart to
    a few kilobytes, and the encoder stays a dozen lines.
    """
    stride = width * 3
    if len(pixels) != stride * height:
        raise ValueError(f"expected {stride * height} bytes of pixels, got {len(pixels)}")
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        raw += pixels[y * stride : (y + 1) * stride]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", header)]
    if title:
        printable = "".join(c if c >= " " else " " for c in title)
        chunks.append(chunk(b"tEXt", b"Title\x00" + printable.encode("latin-1", "replace")))
    chunks += [chunk(b"IDAT", zlib.compress(bytes(raw), 6)), chunk(b"IEND", b"")]
    return b"".join(chunks)


def _png_axes(
    canvas: _Canvas,
    series: _Series,
    top: int,
    bottom: int,
    value_range: tuple[float, float],
    heading: str,
    suffix: str,
) -> _Frame:
    """Grid, frame, tick labels and heading of one panel; returns its frame for the data."""
    low, high = value_range
    ticks, decimals = _value_ticks(low, high)
    labels = [_value_label(tick, decimals, suffix) for tick in ticks]
    left = 16 + max(_text_width(text) for text in labels)
    frame = _Frame(left, top, canvas.width - 24, bottom, series.span, low, high)
    grid, axis, ink = bytes(GRID_RGB), bytes(AXIS_RGB), bytes(TEXT_RGB)
    for tick, text in zip(ticks, labels, strict=True):
        y = round(frame.y(tick))
        canvas.hline(round(frame.left), round(frame.right), y, grid)
        canvas.text(round(frame.left) - 6 - _text_width(text), y - 3, text, ink)
    for seconds, text in _time_ticks(series.start, series.span):
        x = round(frame.x(seconds))
        canvas.vline(x, top, bottom, grid)
        canvas.vline(x, bottom, bottom + 3, axis)
        if x + _text_width(text) // 2 < canvas.width:  # a label cut by the edge reads as a wrong date
            canvas.text(x - _text_width(text) // 2, bottom + 6, text, ink)
    canvas.rectangle(round(frame.left), top, round(frame.right), bottom, axis)
    canvas.text(round(frame.left), top - 12, heading, ink)
    return frame


def _pixels(frame: _Frame, points: Iterable[Point]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    for t, v in points:
        pixel = (round(frame.x(t)), round(frame.y(v)))
        if not result or result[-1] != pixel:
            result.append(pixel)
    return result


def _png_markers(canvas: _Canvas, frame: _Frame, series: _Series) -> None:
    """Entry triangles below the curve, exit triangles above it; ticks when crowded."""
    entries = _marker_pixels(frame, series.entries)
    exits = _marker_pixels(frame, series.exits)
    ticks = len(entries) + len(exits) > MAX_TRIANGLES
    for pixels, sign, colour in ((entries, 1, bytes(ENTRY_RGB)), (exits, -1, bytes(EXIT_RGB))):
        for x, y in pixels:
            if ticks:
                canvas.vline(x, y + 2 * sign, y + 6 * sign, colour)
                continue
            for depth in range(5):
                canvas.hline(x - depth, x + depth, y + (2 + depth) * sign, colour)


def _png_polyline(canvas: _Canvas, pixels: Sequence[tuple[int, int]], colour: bytes) -> None:
    if len(pixels) == 1:
        x, y = pixels[0]
        canvas.hline(x - 1, x + 1, y, colour)
    for (x0, y0), (x1, y1) in zip(pixels, pixels[1:], strict=False):
        canvas.line(x0, y0, x1, y1, colour)


def _png_area(canvas: _Canvas, pixels: Sequence[tuple[int, int]], base: int, colour: bytes) -> None:
    """Fill between the baseline row and the curve, one column at a time; several points in a
    column (after min/max thinning) fill down to the deepest of them."""
    deepest: dict[int, int] = {}
    for (x0, y0), (x1, y1) in zip(pixels, pixels[1:], strict=False):
        if x0 == x1:
            deepest[x0] = max(deepest.get(x0, base), y0, y1)
            continue
        for x in range(min(x0, x1), max(x0, x1) + 1):
            y = round(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
            deepest[x] = max(deepest.get(x, base), y)
    for x, y in deepest.items():
        if y > base:
            canvas.vline(x, base, y, colour)


def render_png(state: State, statistics_rows: Sequence[tuple[str, str]], title: str) -> bytes:
    """The equity chart above the drawdown chart, as PNG bytes of `PNG_WIDTH` x `PNG_HEIGHT`."""
    canvas = _Canvas(PNG_WIDTH, PNG_HEIGHT)
    ink = bytes(TEXT_RGB)
    canvas.text(16, 10, title, ink, scale=2)
    wanted = ("Total return", "Max drawdown", "Sharpe ratio", "Trades")
    summary = "   ".join(f"{label} {value}" for label, value in statistics_rows if label in wanted)
    canvas.text(PNG_WIDTH - 24 - _text_width(summary), 14, summary, ink)
    series = _series(state)
    if series is None:
        message = "No data: the state has no valuations yet"
        canvas.text((PNG_WIDTH - _text_width(message, 2)) // 2, PNG_HEIGHT // 2 - 7, message, ink, scale=2)
        return encode_png(PNG_WIDTH, PNG_HEIGHT, canvas.pixels, title)

    currency = f" ({series.currency})" if series.currency else ""
    equity = _png_axes(canvas, series, 52, 410, _equity_range(series.equity), f"Equity{currency}", "")
    _png_markers(canvas, equity, series)
    _png_polyline(canvas, _pixels(equity, series.equity), bytes(EQUITY_RGB))

    drawdown = _png_axes(
        canvas,
        series,
        458,
        664,
        _drawdown_range(series.deepest[1]),
        "Drawdown below the running peak (%)",
        "%",
    )
    line = _pixels(drawdown, series.drawdown)
    base = round(drawdown.y(0.0))
    _png_area(canvas, line, base, bytes(DRAWDOWN_FILL_RGB))
    _png_polyline(canvas, line, bytes(DRAWDOWN_LINE_RGB))
    return encode_png(PNG_WIDTH, PNG_HEIGHT, canvas.pixels, title)
