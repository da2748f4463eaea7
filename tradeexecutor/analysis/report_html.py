"""The report as one self-contained HTML page: inline CSS and the figure as inline SVG, nothing
fetched from anywhere, so it opens offline years later.

The page says what ran (strategy, parameters, data file, pair, fees), shows the statistics, the
figure (price with the fills, equity next to buy-and-hold, drawdown) and the positions.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

from tradeexecutor.analysis.formatting import format_money, format_time
from tradeexecutor.analysis.report_data import ReportData
from tradeexecutor.state.position import Position

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1040px; color: #222; background: #fff; padding: 0 12px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 0.5em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.stats td:first-child, table.run td:first-child { color: #555; }
.pos { color: #1a7f1a; } .neg { color: #c62828; }
.note { color: #666; font-size: 0.9em; }
.no-data { padding: 16px; background: #f6f6f6; border: 1px solid #ddd; }
.figure svg { max-width: 100%; height: auto; display: block; }
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(css: str, rows: Sequence[tuple[object, object]]) -> str:
    body = "\n".join(f'<tr><td>{_esc(label)}</td><td class="num">{_esc(value)}</td></tr>' for label, value in rows)
    return f'<table class="{css}">\n<tbody>\n{body}\n</tbody>\n</table>'


def _run_rows(data: ReportData) -> list[tuple[object, object]]:
    details = data.details
    rows: list[tuple[object, object]] = []
    if details.strategy:
        rows.append(("Strategy", details.strategy))
    if details.mode:
        rows.append(("Mode", details.mode))
    if data.symbol or details.pair:
        rows.append(("Pair", details.pair or data.symbol))
    if details.data_file:
        rows.append(("Data file", details.data_file))
    if details.fee is not None:
        rows.append(("Fee", f"{format((details.fee * 100).normalize(), 'f')}% of the order value"))
    if details.slippage_bps is not None:
        rows.append(("Slippage", f"{details.slippage_bps} bps"))
    for name, value in details.parameters.items():
        rows.append((f"Parameter {name}", value))
    for asset, amount in data.fees_by_asset.items():
        rows.append((f"Fees paid in fills ({asset})", format_money(amount, 8 if asset != data.currency else 2)))
    if data.executor_id:
        rows.append(("Executor", data.executor_id))
    return rows


def _pnl_cell(value: Decimal) -> str:
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<td class="num {css}">{_esc(format_money(value, signed=True))}</td>'


def _positions_table(data: ReportData, positions: Sequence[Position], closed: bool) -> str:
    if not positions:
        return f'<p class="note">No {"closed" if closed else "open"} positions.</p>'
    currency = f" ({data.currency})" if data.currency else ""
    rows = []
    for position in positions:
        quantity = position.dust if closed else position.quantity
        rows.append(
            "<tr>"
            f'<td class="num">{position.id}</td>'
            f"<td>{_esc(data.symbols.get(position.pair_id, position.pair_id))}</td>"
            f"<td>{_esc(format_time(position.opened_at, seconds=True))}</td>"
            f"<td>{_esc(format_time(position.closed_at, seconds=True) if position.closed_at else '')}</td>"
            f"<td>{_esc(position.direction.value)}</td>"
            f'<td class="num">{_esc(format(quantity, "f") if quantity else "")}</td>'
            f'<td class="num">{_esc(format_money(position.fees_paid))}</td>'
            f"{_pnl_cell(position.net_pnl)}"
            "</tr>"
        )
    quantity_header = "Dust" if closed else "Quantity"
    header = (
        '<tr><th class="num">#</th><th>Pair</th><th>Opened (UTC)</th><th>Closed (UTC)</th><th>Direction</th>'
        f'<th class="num">{quantity_header}</th><th class="num">Fees{_esc(currency)}</th>'
        f'<th class="num">Net PnL{_esc(currency)}</th></tr>'
    )
    css = "positions" if closed else "open-positions"
    return f'<table class="{css}">\n<thead>{header}</thead>\n<tbody>\n' + "\n".join(rows) + "\n</tbody>\n</table>"


def render_html(data: ReportData, svg: str | None) -> str:
    """The page; `svg` is the figure (None when there is nothing to chart)."""
    shown = len(data.closed_positions)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(data.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(data.title)}</h1>",
    ]
    run_rows = _run_rows(data)
    if run_rows:
        parts += ["<h2>Run</h2>", _table("run", run_rows)]
    parts.append("<h2>Statistics</h2>")
    parts.append(_table("stats", data.statistics) if data.statistics else '<p class="note">No statistics.</p>')
    if svg is None or not data.equity:
        parts.append(
            '<p class="no-data">No data: the state has no valuations yet, so there is no equity '
            "curve or drawdown to chart.</p>"
        )
    else:
        parts += ["<h2>Price, equity and drawdown</h2>", f'<div class="figure">{svg}</div>']
        notes = [
            "Top: the close the strategy saw, with its buys (&#9650;) and sells (&#9660;) at their fill prices. "
            "Middle: the strategy's equity and buy &amp; hold (the initial equity held in the pair). "
            "Bottom: the percentage below the running peak of equity."
        ]
        if data.deepest is not None:
            at, depth = data.deepest
            notes.append(f"Deepest drawdown {depth:.2f}% at {_esc(format_time(at, seconds=True))} UTC.")
        if data.thinned:
            notes.append(
                f"{data.valuations} points drawn as {len(data.equity)}, keeping the lowest and highest value of "
                "each interval."
            )
        parts.append(f'<p class="note">{" ".join(notes)}</p>')
    parts += ["<h2>Open positions</h2>", _positions_table(data, data.open_positions, closed=False)]
    heading = (
        f"Last {shown} closed positions (newest first)"
        if data.closed_total > shown
        else "Closed positions (newest first)"
    )
    parts += [f"<h2>{_esc(heading)}</h2>", _positions_table(data, data.closed_positions, closed=True)]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
