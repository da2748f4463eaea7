"""Reports of a State as a self-contained HTML page or a PNG image (matplotlib), built from real
event logs; the data behind the charts is checked on its own, where the numbers are exact."""

from __future__ import annotations

import html
import re
import struct
import subprocess
import sys
import zlib
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tradeexecutor.analysis.performance import statistics_from_state
from tradeexecutor.analysis.plots import PNG_HEIGHT, PNG_WIDTH
from tradeexecutor.analysis.report import MISSING_MATPLOTLIB, ReportError, RunDetails, write_report
from tradeexecutor.analysis.report_data import MAX_CHART_POINTS, downsample, drawdown_percent, prepare
from tradeexecutor.analysis.statistics import format_statistics
from tradeexecutor.state.events import CycleCompleted, Event, MarketObserved
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side
from tradeexecutor.store.equity import EquityCurve, curve_of, fold_with_curve, read_curve
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.testing.scenario import Scenario

TITLE = "Backtest <BTC/USDT> & friends"
DETAILS = RunDetails(
    strategy="sma_crossover (strategies/sma_crossover.py)",
    parameters={"fast": 10, "slow": 20, "allocation": Decimal("0.99")},
    data_file="data/btc <1h>.csv",
    fee=Decimal("0.001"),
    pair="BTC/USDT",
    mode="backtest",
)

#: Equity of the hand-made run: all cash in one BTC, so equity is the price. The deepest fall is
#: 121 -> 96.8, exactly 20 % below the running peak.
HAND_MADE_PRICES = ["100", "110", "99", "104.5", "121", "96.8", "130"]


def _rows(state: State, curve: EquityCurve) -> list[tuple[str, str]]:
    return format_statistics(statistics_from_state(state, curve))


def _fold(events: list[Event]) -> tuple[State, EquityCurve]:
    state, points = fold_with_curve(events)
    return state, curve_of(points)


def _closed_positions_state(count: int) -> tuple[State, EquityCurve]:
    scenario = Scenario()
    return _fold([*scenario.setup(), *scenario.closed_positions(count)])


def _hand_made_events() -> list[Event]:
    """One position bought with all the cash after the first cycle and sold after the last."""
    scenario = Scenario(step=timedelta(hours=1))
    events: list[Event] = [*scenario.setup(cash=Decimal("100"))]
    events += scenario.cycle_end(Decimal(HAND_MADE_PRICES[0]))
    events += scenario.trade(Side.buy, Decimal("1"), Decimal("100"), fee=Decimal("0"))
    for price in HAND_MADE_PRICES[1:]:
        events += scenario.cycle_end(Decimal(price))
    events += scenario.trade(Side.sell, Decimal("1"), Decimal("130"), position_id=1, fee=Decimal("0"))
    events += scenario.cycle_end(Decimal("130"))
    return events


def _hand_made_log(tmp_path: Path) -> tuple[State, Path, EquityCurve]:
    with StateStore(tmp_path / "state", "test", fsync_each_batch=False) as store:
        store.record(_hand_made_events())
    return store.state, store.paths.log, read_curve(store.paths.equity)


# --- reading the output back ------------------------------------------------------------------

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


def _png_chunks(data: bytes) -> dict[bytes, bytes]:
    """Every chunk checked against its CRC; returns the chunks by type (IDAT concatenated)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, kinds = 8, {}, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        kinds.append(kind)
        chunks[kind] = chunks.get(kind, b"") + body
        offset += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    return chunks


def _png_image(data: bytes) -> tuple[int, int, set[tuple[int, ...]]]:
    """Width, height and the set of RGB colours, decoded by Pillow (matplotlib's own dependency)."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 24)
    assert colours is not None
    return image.width, image.height, {colour for _, colour in colours}


# --- the file format and its errors ------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.pdf", "report.svg", "report.html.gz", "report"])
def test_an_unsupported_suffix_is_refused_naming_the_accepted_ones(tmp_path: Path, name: str) -> None:
    state, curve = _closed_positions_state(20)
    with pytest.raises(ReportError, match=r"use one of \.html, \.htm or \.png$"):
        write_report(tmp_path / name, state, _rows(state, curve), TITLE, curve=curve)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["report.htm", "REPORT.HTML", "Report.PNG"])
def test_the_suffix_picks_the_format_whatever_its_case(tmp_path: Path, name: str) -> None:
    state, curve = _closed_positions_state(20)
    path = write_report(tmp_path / name, state, _rows(state, curve), TITLE, curve=curve)
    assert path == tmp_path / name
    data = path.read_bytes()
    if name.lower().endswith(".png"):
        assert data.startswith(b"\x89PNG")
    else:
        assert data.startswith(b"<!DOCTYPE html>")


def test_a_report_into_a_missing_folder_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    state, curve = _closed_positions_state(2)
    with pytest.raises(ReportError) as error:
        write_report(tmp_path / "no" / "such" / "r.html", state, _rows(state, curve), TITLE, curve=curve)
    assert str(error.value) == (
        f"--report {tmp_path}/no/such/r.html: the folder {tmp_path}/no/such does not exist; create it first"
    )


def test_without_matplotlib_the_report_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is absent
    state, curve = _closed_positions_state(2)
    with pytest.raises(ReportError) as error:
        write_report(tmp_path / "r.png", state, _rows(state, curve), TITLE, curve=curve)
    assert str(error.value) == MISSING_MATPLOTLIB == "--report needs matplotlib: pip install 'tradeexecutor[report]'"
    assert list(tmp_path.iterdir()) == []


def _cli(tmp_path: Path, *args: str, hide_matplotlib: bool = False) -> subprocess.CompletedProcess[str]:
    prelude = "import sys; sys.modules['matplotlib'] = None; " if hide_matplotlib else "import sys; "
    code = prelude + "from tradeexecutor.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_the_cli_refuses_a_report_without_matplotlib_before_the_run_in_one_line(tmp_path: Path) -> None:
    result = _cli(tmp_path, "backtest", "--report", "out.png", hide_matplotlib=True)
    assert result.stderr == "error: --report needs matplotlib: pip install 'tradeexecutor[report]'\n"
    assert result.returncode == 2
    assert not (tmp_path / "state").exists()  # nothing ran


def test_start_does_not_import_matplotlib_unless_a_report_is_asked(tmp_path: Path) -> None:
    code = (
        "import sys; from tradeexecutor.cli.main import main; code = main(['backtest', '--max-cycles', '30']); "
        "print('matplotlib' in sys.modules); sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


def test_the_cli_writes_a_report_naming_the_strategy_its_parameters_and_data(tmp_path: Path) -> None:
    result = _cli(tmp_path, "backtest", "--report", "out.html", "--param", "fast=7", "--fee", "0.002")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "sma_crossover" in page and "the bundled sample data" in page
    assert '<td>Parameter fast</td><td class="num">7</td>' in page
    assert '<td>Parameter slow</td><td class="num">20</td>' in page
    assert "0.2% of the order value" in page
    assert page.count("<svg") == 1


# --- HTML -------------------------------------------------------------------------------------


def test_html_names_the_run_and_holds_every_statistic_and_one_embedded_figure(tmp_path: Path) -> None:
    state, log, curve = _hand_made_log(tmp_path)
    rows = _rows(state, curve)
    page = write_report(tmp_path / "report.html", state, rows, TITLE, DETAILS, log, curve=curve).read_text(encoding="utf-8")

    assert f"<h1>{html.escape(TITLE)}</h1>" in page
    assert TITLE not in page  # never raw
    for label, value in rows:
        assert f"<td>{html.escape(label)}</td>" in page
        assert html.escape(value) in page
    assert f"<td>{html.escape(DETAILS.strategy or '')}</td>" not in page  # a value, in the value column
    assert f'<td class="num">{html.escape(DETAILS.strategy or "")}</td>' in page
    assert '<td>Parameter fast</td><td class="num">10</td>' in page
    assert '<td>Parameter allocation</td><td class="num">0.99</td>' in page
    assert html.escape("data/btc <1h>.csv") in page
    assert "0.1% of the order value" in page
    assert page.count("<svg") == 1 and page.count("</svg>") == 1
    text = _parse(page)
    # The figure's legend and axes, as text in the SVG.
    for words in ("strategy equity", "buy & hold", "buy (1)", "sell (1)", "BTC/USDT close", "Drawdown (%)",
                  "Equity (USDT)", "Time (UTC)", "max -20.00%"):  # fmt: skip
        assert words in text, words
    assert "Deepest drawdown -20.00%" in text


def test_html_is_well_formed_and_references_nothing_outside_itself(tmp_path: Path) -> None:
    state, curve = _closed_positions_state(200)
    rows = [*_rows(state, curve), ('Odd <label> & "quotes"', "<script>alert(1)</script>")]
    page = write_report(tmp_path / "report.html", state, rows, TITLE, curve=curve).read_text(encoding="utf-8")
    _parse(page)
    lowered = page.lower()
    for reference in ("<script", "<link", "src=", "@import", "<img", "<image"):
        assert reference not in lowered
    assert re.findall(r'href="(?!#)', lowered) == []  # only references inside the SVG
    assert re.findall(r"url\((?!#)", lowered) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_positions_tables_list_open_ones_and_the_last_fifty_closed_newest_first(tmp_path: Path) -> None:
    scenario = Scenario()
    state, curve = _fold([*scenario.setup(), *scenario.closed_positions(120), *scenario.trade(Side.buy, Decimal("0.5"), Decimal("100"))])
    page = write_report(tmp_path / "report.html", state, _rows(state, curve), TITLE, curve=curve).read_text(encoding="utf-8")
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
    assert cells[0][-1] == f"{newest.net_pnl.quantize(Decimal('0.01')):+,.2f}"
    opened = page[page.index('<table class="open-positions">') :]
    assert re.findall(r"<tr><td[^>]*>(\d+)</td>", opened[: opened.index("</table>")]) == ["121"]


def test_an_empty_state_still_makes_a_page_saying_there_is_no_data(tmp_path: Path) -> None:
    page = write_report(tmp_path / "empty.html", State(), [], "Nothing yet").read_text(encoding="utf-8")
    text = _parse(page)
    assert "Nothing yet" in text
    assert "No data" in text
    assert "<svg" not in page


# --- PNG --------------------------------------------------------------------------------------


def test_png_is_a_valid_image_of_the_expected_size_with_the_curves(tmp_path: Path) -> None:
    state, log, curve = _hand_made_log(tmp_path)
    data = write_report(tmp_path / "report.png", state, _rows(state, curve), TITLE, DETAILS, log, curve=curve).read_bytes()
    chunks = _png_chunks(data)
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    assert (width, height) == (PNG_WIDTH, PNG_HEIGHT)
    assert b"Title\x00" + TITLE.encode("latin-1") in chunks[b"tEXt"]
    width, height, colours = _png_image(data)
    assert (width, height) == (PNG_WIDTH, PNG_HEIGHT)
    assert (0x1F, 0x77, 0xB4) in colours  # the equity line
    assert (0x2C, 0xA0, 0x2C) in colours and (0xD6, 0x27, 0x28) in colours  # buy and sell markers


def test_png_of_an_empty_state_is_a_valid_image_saying_there_is_no_data(tmp_path: Path) -> None:
    data = write_report(tmp_path / "empty.png", State(), [], "Nothing yet").read_bytes()
    width, height, colours = _png_image(data)
    assert (width, height) == (PNG_WIDTH, PNG_HEIGHT)
    assert (0x1F, 0x77, 0xB4) not in colours
    assert len(colours) > 2  # the message is drawn


# --- the data behind the charts ----------------------------------------------------------------


def test_buy_and_hold_holds_the_initial_equity_in_the_pair_and_the_fills_sit_at_their_prices(tmp_path: Path) -> None:
    state, log, curve = _hand_made_log(tmp_path)
    from tradeexecutor.store.eventlog import EventLog

    events = [r.event for r in EventLog(log).records() if r.event is not None]
    data = prepare(state, _rows(state, curve), TITLE, DETAILS, events, curve=curve)
    assert [v for _, v in data.equity] == [float(p) for p in HAND_MADE_PRICES] + [130.0]
    # All the cash (100) in one BTC at 100: buy and hold is the price itself.
    assert [v for _, v in data.buy_and_hold] == [float(p) for p in HAND_MADE_PRICES] + [130.0]
    assert [(m.side, m.price) for m in data.markers] == [(Side.buy, 100.0), (Side.sell, 130.0)]
    assert data.deepest is not None and data.deepest[1] == pytest.approx(-20.0)
    assert data.deepest[0] == curve[5][0]
    # Without the log the fills stand in for the price.
    assert [p for _, p in prepare(state, [], TITLE, curve=curve).prices] == [100.0, 130.0]


def test_two_valuations_at_one_time_keep_the_last(tmp_path: Path) -> None:
    events = _hand_made_events()[:-5]  # before the sell: the position is open, marked at each price
    last = events[-1]
    assert isinstance(last, CycleCompleted)
    events += [MarketObserved(last.at, 1, *[Decimal("131")] * 4, Decimal(1)), CycleCompleted(last.at, last.cycle + 1)]
    state, curve = _fold(events)
    data = prepare(state, _rows(state, curve), TITLE, events=events, curve=curve)
    assert data.equity[-1] == (last.at, 131.0) and data.equity[-2][0] < last.at
    write_report(tmp_path / "r.png", state, _rows(state, curve), TITLE, curve=curve)


def test_a_long_curve_is_thinned_to_the_limit_keeping_its_spikes() -> None:
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
    state, curve = _fold(events)
    data = prepare(state, [], "long", events=events, curve=curve)
    assert len(data.equity) == MAX_CHART_POINTS and data.thinned
    assert min(v for _, v in data.equity) == pytest.approx(9950)  # 9,900 cash + the crash price
    assert max(v for _, v in data.equity) == pytest.approx(10050)
    assert min(v for _, v in data.prices) == 50.0
    peak = 9900 + 100 + (crash_at - 1) / 100
    assert min(v for _, v in data.drawdown) == pytest.approx((9950 / peak - 1) * 100)


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
