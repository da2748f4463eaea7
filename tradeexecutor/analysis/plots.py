"""The report's figure, drawn with matplotlib (headless: a bare `Figure` on the Agg canvas, never
pyplot, so no display, no global figure state and no backend selection are involved).

Three panels share the time axis: the price the strategy saw with its buys and sells on it; the
equity with buy-and-hold next to it; the drawdown below the running peak. Each has a legend.

matplotlib is imported here only, and this module only when a report is asked for, so `start`
stays fast and runs without the `report` extra.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tradeexecutor.analysis.report_data import ReportData
from tradeexecutor.state.trade import Side

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["BUY_COLOUR", "EQUITY_COLOUR", "PNG_HEIGHT", "PNG_WIDTH", "SELL_COLOUR", "make_figure", "render_png", "render_svg"]

PNG_WIDTH = 1200
PNG_HEIGHT = 1000
_DPI = 100
#: The SVG embedded in the HTML page is drawn at this size (it scales in the browser).
SVG_WIDTH = 1000
SVG_HEIGHT = 860

EQUITY_COLOUR = "#1f77b4"
BUY_AND_HOLD_COLOUR = "#7f7f7f"
PRICE_COLOUR = "#444444"
BUY_COLOUR = "#2ca02c"
SELL_COLOUR = "#d62728"
DRAWDOWN_COLOUR = "#d62728"
#: Above this many fills, markers shrink so the price line stays visible.
_MANY_MARKERS = 300

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # matplotlib's default date epoch


def _days(times: Iterable[datetime]) -> list[float]:
    """matplotlib date numbers (days since its epoch) of UTC times."""
    return [(at - _EPOCH).total_seconds() / 86400.0 for at in times]


def _time_axis(axes: Axes) -> None:
    from matplotlib import dates

    locator = dates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]
    axes.grid(True, color="#e6e6e6", linewidth=0.8)


def _price_panel(axes: Axes, data: ReportData) -> None:
    if data.prices:
        axes.plot(_days(at for at, _ in data.prices), [p for _, p in data.prices], color=PRICE_COLOUR, linewidth=1.0,
                  label=f"{data.symbol or 'price'} close")  # fmt: skip
    size = 18 if len(data.markers) <= _MANY_MARKERS else 6
    for side, shape, colour, label in ((Side.buy, "^", BUY_COLOUR, "buy"), (Side.sell, "v", SELL_COLOUR, "sell")):
        marks = [m for m in data.markers if m.side is side]
        if marks:
            axes.scatter(_days(m.at for m in marks), [m.price for m in marks], marker=shape, s=size, color=colour,
                         label=f"{label} ({len(marks)})", zorder=3)  # fmt: skip
    axes.set_ylabel(f"Price ({data.currency})" if data.currency else "Price")
    axes.set_title(f"Price {data.symbol} and fills".strip(), loc="left")
    axes.legend(loc="best", framealpha=0.85)


def _equity_panel(axes: Axes, data: ReportData) -> None:
    axes.plot(_days(at for at, _ in data.equity), [v for _, v in data.equity], color=EQUITY_COLOUR, linewidth=1.4,
              label="strategy equity", marker="o" if len(data.equity) == 1 else None)  # fmt: skip
    if data.buy_and_hold:
        axes.plot(_days(at for at, _ in data.buy_and_hold), [v for _, v in data.buy_and_hold], color=BUY_AND_HOLD_COLOUR,
                  linewidth=1.0, linestyle="--", label="buy & hold")  # fmt: skip
    axes.set_ylabel(f"Equity ({data.currency})" if data.currency else "Equity")
    axes.set_title("Equity", loc="left")
    axes.legend(loc="best", framealpha=0.85)


def _drawdown_panel(axes: Axes, data: ReportData) -> None:
    times = _days(at for at, _ in data.drawdown)
    values = [v for _, v in data.drawdown]
    axes.fill_between(times, values, 0.0, color=DRAWDOWN_COLOUR, alpha=0.35, linewidth=0, label="below running peak")
    axes.plot(times, values, color=DRAWDOWN_COLOUR, linewidth=0.8)
    if data.deepest is not None:
        at, depth = data.deepest
        axes.scatter(_days([at]), [depth], color=DRAWDOWN_COLOUR, s=14, zorder=3, label=f"max {depth:.2f}%")
    low = min(values, default=0.0)
    axes.set_ylim(low * 1.08 if low < -1e-4 else -1.0, 0.5 if low > -1e-4 else -low * 0.04)
    axes.set_ylabel("Drawdown (%)")
    axes.set_xlabel("Time (UTC)")
    axes.set_title("Drawdown", loc="left")
    axes.legend(loc="lower left", framealpha=0.85)


def _subtitle(data: ReportData) -> str:
    """The run in one line (the PNG has no page around it): strategy, parameters, fee, data."""
    details = data.details
    parts = []
    if details.strategy:
        parameters = ", ".join(f"{name}={value}" for name, value in details.parameters.items())
        parts.append(f"{details.strategy}" + (f" ({parameters})" if parameters else ""))
    if details.fee is not None:
        parts.append(f"fee {format((details.fee * 100).normalize(), 'f')}%")
    if details.data_file:
        parts.append(f"data {details.data_file}")
    return "  |  ".join(parts)


def make_figure(data: ReportData, width: int = PNG_WIDTH, height: int = PNG_HEIGHT) -> Figure:
    """The report's figure at `width` x `height` pixels."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, layout="constrained")
    figure.suptitle(data.title, fontsize=12)
    subtitle = _subtitle(data)
    if subtitle:
        figure.text(0.5, 1.0 - 28 / height, subtitle, ha="center", va="top", fontsize=8, color="#555555")
    if not data.equity:
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.text(0.5, 0.5, "No data: the state has no valuations yet", ha="center", va="center", fontsize=14)
        return figure
    price, equity, drawdown = figure.subplots(3, 1, sharex=True, height_ratios=[3, 3, 2])
    _price_panel(price, data)
    _equity_panel(equity, data)
    _drawdown_panel(drawdown, data)
    for axes in (price, equity, drawdown):
        _time_axis(axes)
    return figure


def _save(data: ReportData, width: int, height: int, **options: Any) -> bytes:
    import matplotlib

    # The same output for the same data: fixed ids in the SVG, text kept as text, no creation date.
    with matplotlib.rc_context({"svg.hashsalt": "tradeexecutor", "svg.fonttype": "none", "font.size": 9.0}):
        figure = make_figure(data, width, height)
        buffer = io.BytesIO()
        figure.savefig(buffer, dpi=_DPI, **options)
    return buffer.getvalue()


def render_png(data: ReportData) -> bytes:
    """The figure as a PNG of `PNG_WIDTH` x `PNG_HEIGHT` pixels, titled in its metadata."""
    return _save(data, PNG_WIDTH, PNG_HEIGHT, format="png", metadata={"Title": data.title, "Software": None})


def render_svg(data: ReportData) -> str:
    """The figure as an `<svg>` element to inline in a page (no XML prolog, no creation date)."""
    text = _save(data, SVG_WIDTH, SVG_HEIGHT, format="svg", metadata={"Date": None, "Creator": None}).decode()
    return text[text.index("<svg") :]
