"""Reports of a State as a self-contained HTML page or a PNG image, built from real event logs."""

from __future__ import annotations

import html
import re
import struct
import zlib
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tradeexecutor.analysis.performance import statistics_from_state
from tradeexecutor.analysis.report import (
    DRAWDOWN_FILL_RGB,
    DRAWDOWN_LINE_RGB,
    ENTRY_RGB,
    EQUITY_RGB,
    EXIT_RGB,
    MAX_CHART_POINTS,
    PNG_HEIGHT,
    PNG_WIDTH,
    downsample,
    drawdown_percent,
    write_report,
)
from tradeexecutor.analysis.statistics import format_statistics
from tradeexecutor.state.events import Event
from tradeexecutor.state.reducer import fold
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side
from tradeexecutor.testing.scenario import Scenario

TITLE = "Backtest <BTC/USDT> & friends"

#: Equity of the hand-made run: all cash in one BTC, so equity is the price. The deepest fall is
#: 121 -> 96.8, exactly 20 % below the running peak.
HAND_MADE_PRICES = ["100", "110", "99", "104.5", "121", "96.8", "130"]


def _rows(state: State) -> list[tuple[str, str]]:
    return format_statistics(statistics_from_state(state))


def _closed_positions_state(count: int) -> State:
    scenario = Scenario()
    return fold([*scenario.setup(), *scenario.closed_positions(count)])


def _hand_made_state() -> State:
    """One position bought with all the cash after the first cycle and sold after the last."""
    scenario = Scenario(step=timedelta(hours=1))
    events: list[Event] = [*scenario.setup(cash=Decimal("100"))]
    events += scenario.cycle_end(Decimal(HAND_MADE_PRICES[0]))
    events += scenario.trade(Side.buy, Decimal("1"), Decimal("100"), fee=Decimal("0"))
    for price in HAND_MADE_PRICES[1:]:
        events += scenario.cycle_end(Decimal(price))
    events += scenario.trade(Side.sell, Decimal("1"), Decimal("130"), position_id=1, fee=Decimal("0"))
    events += scenario.cycle_end(Decimal("130"))
    return fold(events)


def _flat_state(cycles: int = 30) -> State:
    scenario = Scenario(step=timedelta(minutes=5))
    events = [*scenario.setup()]
    for _ in range(cycles):
        events += scenario.cycle_end(Decimal("30000"))
    return fold(events)


# --- reading the HTML back --------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _StrictParser(HTMLParser):
    """Fails on any end tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> str:
    parser = _StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed elements {parser.stack}"
    return "".join(parser.text)


def _svg(page: str, name: str) -> str:
    match = re.search(rf'<svg [^>]*data-chart="{name}".*?</svg>', page, re.S)
    assert match, f"no {name} chart"
    return match.group(0)


def _attribute(element: str, name: str) -> float:
    match = re.search(rf'{name}="([^"]+)"', element)
    assert match, name
    return float(match.group(1))


def _pairs(text: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", text)]


def _polyline(svg: str) -> list[tuple[float, float]]:
    match = re.search(r'<polyline class="equity" points="([^"]*)"', svg)
    assert match
    return _pairs(match.group(1))


def _area(svg: str) -> list[tuple[float, float]]:
    match = re.search(r'<path class="drawdown-area" d="([^"]*)"', svg)
    assert match
    return _pairs(match.group(1))


def _value_at(svg: str, y: float) -> float:
    """Turn a pixel row of a chart back into a value, through the geometry the chart declares."""
    top, bottom = _attribute(svg, "data-plot-top"), _attribute(svg, "data-plot-bottom")
    low, high = _attribute(svg, "data-value-min"), _attribute(svg, "data-value-max")
    return low + (bottom - y) / (bottom - top) * (high - low)


# --- reading the PNG back ---------------------------------------------------------------------


def _decode_png(data: bytes) -> tuple[int, int, list[bytes], dict[bytes, bytes]]:
    """Width, height, the RGB rows (filter byte checked and removed) and the non-IDAT chunks."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, chunks = 8, b"", {}
    kinds = []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        kinds.append(kind)
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        offset += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour_type, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[b"IHDR"]
    )
    assert (depth, colour_type, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + 3 * width)
    stride = 1 + 3 * width
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows], chunks


def _pixels_of(rows: list[bytes], rgb: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(x, y) of every pixel of exactly this colour."""
    needle = bytes(rgb)
    found = []
    for y, row in enumerate(rows):
        index = row.find(needle)
        while index != -1:
            if index % 3 == 0:
                found.append((index // 3, y))
            index = row.find(needle, index + 1)
    return found


# --- the file format --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.pdf", "report.svg", "report.html.gz", "report"])
def test_an_unsupported_suffix_is_refused_naming_the_accepted_ones(tmp_path: Path, name: str) -> None:
    state = _closed_positions_state(20)
    with pytest.raises(ValueError, match=r"\.html, \.htm or \.png"):
        write_report(tmp_path / name, state, _rows(state), TITLE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["report.htm", "REPORT.HTML", "Report.PNG"])
def test_the_suffix_picks_the_format_whatever_its_case(tmp_path: Path, name: str) -> None:
    state = _closed_positions_state(20)
    path = write_report(tmp_path / name, state, _rows(state), TITLE)
    assert path == tmp_path / name
    data = path.read_bytes()
    if name.lower().endswith(".png"):
        assert data.startswith(b"\x89PNG")
    else:
        assert data.startswith(b"<!DOCTYPE html>")


# --- HTML -------------------------------------------------------------------------------------


def test_html_has_the_escaped_title_every_statistic_and_two_charts(tmp_path: Path) -> None:
    state = _closed_positions_state(200)
    rows = _rows(state)
    page = write_report(tmp_path / "report.html", state, rows, TITLE).read_text(encoding="utf-8")

    assert f"<h1>{html.escape(TITLE)}</h1>" in page
    assert TITLE not in page  # never raw
    for label, value in rows:
        assert f"<td>{html.escape(label)}</td>" in page
        assert html.escape(value) in page
    assert page.count("<svg") == 2
    # Fewer points than the limit: every valuation is drawn, and the area closes on the zero line.
    assert len(state.valuations) == 20
    assert len(_polyline(_svg(page, "equity"))) == 20
    assert len(_area(_svg(page, "drawdown"))) == 20 + 2
    text = _parse(page)
    assert "Time (UTC)" in text and "Equity (USDT)" in text and "Drawdown (%)" in text
    assert "01-01 00:" in text  # date/time tick labels


def test_html_is_well_formed_and_references_nothing_outside_itself(tmp_path: Path) -> None:
    state = _closed_positions_state(200)
    rows = [*_rows(state), ('Odd <label> & "quotes"', "<script>alert(1)</script>")]
    page = write_report(tmp_path / "report.html", state, rows, TITLE).read_text(encoding="utf-8")
    _parse(page)
    lowered = page.lower()
    for reference in ("http://", "https://", "<script", "<link", "src=", "@import", "url(", "<img"):
        assert reference not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_long_curve_is_thinned_to_the_limit_keeping_its_spikes(tmp_path: Path) -> None:
    """5,001 points of a rising equity with one crash in the middle: exactly MAX_CHART_POINTS
    are drawn (first, last, and a min and a max per bucket), the crash among them."""
    scenario = Scenario(step=timedelta(minutes=1))
    events = [*scenario.setup(cash=Decimal("10000"))]
    events += scenario.cycle_end(Decimal("100"))
    events += scenario.trade(Side.buy, Decimal("1"), Decimal("100"), fee=Decimal("0"))
    crash_at = 2500
    for i in range(1, 5001):
        price = Decimal("50") if i == crash_at else Decimal(100) + Decimal(i) / 100
        events += scenario.cycle_end(price)
    state = fold(events)
    assert len(state.valuations) == 5001

    page = write_report(tmp_path / "report.html", state, _rows(state), "long").read_text(encoding="utf-8")
    equity_svg = _svg(page, "equity")
    points = _polyline(equity_svg)
    assert len(points) == MAX_CHART_POINTS
    assert points[0][0] == pytest.approx(_attribute(equity_svg, "data-plot-left"))
    assert points[-1][0] == pytest.approx(_attribute(equity_svg, "data-plot-right"))
    lowest = max(y for _, y in points)
    assert _value_at(equity_svg, lowest) == pytest.approx(9950, abs=0.5)  # 9,900 cash + the crash price
    highest = min(y for _, y in points)
    assert _value_at(equity_svg, highest) == pytest.approx(10050, abs=0.5)

    drawdown_svg = _svg(page, "drawdown")
    area = _area(drawdown_svg)
    assert len(area) <= MAX_CHART_POINTS + 2
    peak = 9900 + 100 + (crash_at - 1) / 100
    expected = (9950 / peak - 1) * 100
    assert _value_at(drawdown_svg, max(y for _, y in area)) == pytest.approx(expected, abs=0.01)
    assert f"5001 points drawn as {MAX_CHART_POINTS}" in page


def test_the_drawdown_area_bottoms_out_at_the_known_max_drawdown(tmp_path: Path) -> None:
    state = _hand_made_state()
    assert [str(point.equity) for point in state.valuations] == [*HAND_MADE_PRICES, "130"]
    stats = statistics_from_state(state)
    assert stats.max_drawdown == pytest.approx(0.2)

    page = write_report(tmp_path / "report.html", state, _rows(state), TITLE).read_text(encoding="utf-8")
    svg = _svg(page, "drawdown")
    area = _area(svg)
    zero = _attribute(svg, "data-plot-top")
    assert area[0][1] == area[-1][1] == pytest.approx(zero)  # closed along the zero line
    assert _attribute(svg, "data-value-max") == 0.0
    deepest = max(y for _, y in area)
    assert _value_at(svg, deepest) == pytest.approx(-20.0, abs=0.05)
    assert _value_at(svg, deepest) == pytest.approx(-stats.max_drawdown * 100, abs=0.05)
    # The deepest point is the sixth valuation (96.8), the only one at that depth.
    assert [round(y, 1) for _, y in area].count(round(deepest, 1)) == 1
    assert area[1 + 5][1] == deepest
    assert "-20.00%" in _parse(page)


def test_the_equity_chart_marks_where_the_position_was_opened_and_closed(tmp_path: Path) -> None:
    state = _hand_made_state()
    page = write_report(tmp_path / "report.html", state, _rows(state), TITLE).read_text(encoding="utf-8")
    svg = _svg(page, "equity")
    entries = re.search(r'<path class="entries" d="([^"]*)"', svg)
    exits = re.search(r'<path class="exits" d="([^"]*)"', svg)
    assert entries and exits
    assert entries.group(1).count("M") == 1 and exits.group(1).count("M") == 1
    (entry_x, entry_y), *_ = _pairs(entries.group(1))
    (exit_x, exit_y), *_ = _pairs(exits.group(1))
    # Markers sit on the drawn line: the buy came halfway between the valuations at 100 and 110,
    # the sell between the last two, both at 130.
    assert _value_at(svg, entry_y - 2) == pytest.approx(105, abs=0.3)
    assert _value_at(svg, exit_y + 2) == pytest.approx(130, abs=0.3)
    assert entry_x < exit_x
    values = [_value_at(svg, y) for _, y in _polyline(svg)]
    assert values == pytest.approx([float(p) for p in HAND_MADE_PRICES] + [130.0], abs=0.1)


def test_the_positions_table_lists_the_last_fifty_newest_first(tmp_path: Path) -> None:
    state = _closed_positions_state(120)
    page = write_report(tmp_path / "report.html", state, _rows(state), TITLE).read_text(encoding="utf-8")
    table = page[page.index('<table class="positions">') :]
    table = table[: table.index("</table>")]
    body_rows = re.findall(r"<tr><td.*?</tr>", table)
    assert len(body_rows) == 50
    assert "Last 50 closed positions" in page
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body_rows]
    assert [int(row[0]) for row in cells] == list(range(120, 70, -1))
    newest = state.portfolio.closed_positions[120]
    assert newest.closed_at is not None
    assert cells[0][1:5] == [
        "BTC/USDT",
        newest.opened_at.strftime("%Y-%m-%d %H:%M:%S"),
        newest.closed_at.strftime("%Y-%m-%d %H:%M:%S"),
        "long",
    ]
    assert cells[0][5] == f"{newest.net_pnl:+,.2f}"


def test_an_empty_state_still_makes_a_page_saying_there_is_no_data(tmp_path: Path) -> None:
    page = write_report(tmp_path / "empty.html", State(), [], "Nothing yet").read_text(encoding="utf-8")
    text = _parse(page)
    assert "Nothing yet" in text
    assert "No data" in text
    assert "<svg" not in page


# --- PNG --------------------------------------------------------------------------------------


def test_png_is_a_valid_rgb_image_with_the_curve_and_the_drawdown(tmp_path: Path) -> None:
    state = _hand_made_state()
    data = write_report(tmp_path / "report.png", state, _rows(state), TITLE).read_bytes()
    width, height, rows, chunks = _decode_png(data)
    assert (width, height) == (PNG_WIDTH, PNG_HEIGHT)
    assert chunks[b"tEXt"] == b"Title\x00" + TITLE.encode("latin-1")

    curve = _pixels_of(rows, EQUITY_RGB)
    assert len(curve) > 500
    fill = _pixels_of(rows, DRAWDOWN_FILL_RGB)
    outline = _pixels_of(rows, DRAWDOWN_LINE_RGB)
    assert fill and outline
    # Equity on top, drawdown below it.
    assert max(y for _, y in curve) < min(y for _, y in fill + outline)
    assert _pixels_of(rows, ENTRY_RGB) and _pixels_of(rows, EXIT_RGB)


def test_png_of_a_flat_equity_curve_is_one_horizontal_line(tmp_path: Path) -> None:
    state = _flat_state()
    assert len({point.equity for point in state.valuations}) == 1
    data = write_report(tmp_path / "flat.png", state, _rows(state), "flat").read_bytes()
    _, _, rows, _ = _decode_png(data)
    curve = _pixels_of(rows, EQUITY_RGB)
    assert len({y for _, y in curve}) == 1
    xs = sorted(x for x, _ in curve)
    assert xs[-1] - xs[0] > PNG_WIDTH * 0.8
    assert len(xs) == xs[-1] - xs[0] + 1  # unbroken


def test_png_of_an_empty_state_is_a_valid_image_without_a_curve(tmp_path: Path) -> None:
    data = write_report(tmp_path / "empty.png", State(), [], "Nothing yet").read_bytes()
    width, height, rows, _ = _decode_png(data)
    assert (width, height) == (PNG_WIDTH, PNG_HEIGHT)
    assert not _pixels_of(rows, EQUITY_RGB)
    assert any(row != rows[0] for row in rows)  # the "no data" message is drawn


# --- the helpers behind the charts -------------------------------------------------------------


def test_downsample_keeps_short_curves_and_the_extremes_of_long_ones() -> None:
    short = [(float(i), float(i % 7)) for i in range(MAX_CHART_POINTS)]
    assert downsample(short) == short

    long = [(float(i), float(i % 97)) for i in range(100_000)]
    long[33_333] = (33_333.0, 1_000.0)
    long[66_666] = (66_666.0, -1_000.0)
    thinned = downsample(long)
    assert len(thinned) <= MAX_CHART_POINTS
    assert thinned[0] == long[0] and thinned[-1] == long[-1]
    assert long[33_333] in thinned and long[66_666] in thinned
    assert [t for t, _ in thinned] == sorted(t for t, _ in thinned)
    assert len(downsample(long, 10)) <= 10
    with pytest.raises(ValueError):
        downsample(long, 3)


def test_drawdown_percent_is_the_fall_below_the_running_peak() -> None:
    values = [float(v) for v in HAND_MADE_PRICES]
    assert drawdown_percent(values) == pytest.approx([0, 0, -10, -5, 0, -20, 0])
    assert drawdown_percent([]) == []
