"""Reports of a run: one self-contained HTML page or one PNG image, drawn with matplotlib.

`write_report` is what `--report FILE.html|FILE.png` calls. The layers live in their own modules:
`report_data` prepares what is shown, `plots` draws the figure, `report_html` writes the page.
matplotlib (the `report` extra) is imported only here, when a report is asked for; without it
the error says how to install it. Every problem is a `ReportError` with a one-line message.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tradeexecutor.analysis.report_data import RunDetails, prepare
from tradeexecutor.state.events import Event
from tradeexecutor.state.state import State

__all__ = ["ReportError", "RunDetails", "check_report_path", "require_matplotlib", "write_report"]

_HTML_SUFFIXES = (".html", ".htm")
_PNG_SUFFIX = ".png"
MISSING_MATPLOTLIB = "--report needs matplotlib: pip install 'tradeexecutor[report]'"


class ReportError(Exception):
    """The report cannot be written; the message says why and what to do."""


def _matplotlib_available() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or stubbed-out installation
        return False


def require_matplotlib() -> None:
    """Refuse a report when matplotlib is not installed (checked before a run starts)."""
    if not _matplotlib_available():
        raise ReportError(MISSING_MATPLOTLIB)


def check_report_path(path: Path) -> None:
    """Refuse a report that could not be written: its format, matplotlib, its folder."""
    suffix = path.suffix.lower()
    if suffix not in (*_HTML_SUFFIXES, _PNG_SUFFIX):
        raise ReportError(
            f"--report {path}: cannot write a report as {suffix or 'a file without suffix'!r}; "
            "use one of .html, .htm or .png"
        )
    require_matplotlib()
    folder = path.parent
    if not folder.is_dir():
        raise ReportError(f"--report {path}: the folder {folder} does not exist; create it first")
    if path.is_dir():
        raise ReportError(f"--report {path} is a folder; give a file name ending in .html or .png")


def _events(log_path: Path | None) -> Iterable[Event] | None:
    if log_path is None or not log_path.exists():
        return None
    from tradeexecutor.store.eventlog import EventLog

    return (record.event for record in EventLog(log_path).records() if record.event is not None)


def write_report(
    path: Path,
    state: State,
    statistics_rows: Sequence[tuple[str, str]],
    title: str,
    details: RunDetails | None = None,
    log_path: Path | None = None,
    curve: Sequence[tuple[datetime, Decimal]] = (),
) -> Path:
    """Write the report of `state` to `path`, as HTML (`.html`/`.htm`) or PNG (`.png`).

    `details` says how the run was set up; `log_path` (the state's event log) gives the prices
    the strategy saw, for the price chart and buy-and-hold; `curve` is the equity curve (read from
    the equity file with `store.equity.read_curve`).
    """
    path = Path(path)
    check_report_path(path)
    try:
        from tradeexecutor.analysis import plots, report_html
    except ImportError:
        raise ReportError(MISSING_MATPLOTLIB) from None
    data = prepare(state, statistics_rows, title, details, _events(log_path), curve)
    try:
        if path.suffix.lower() == _PNG_SUFFIX:
            path.write_bytes(plots.render_png(data))
        else:
            svg = plots.render_svg(data) if data.equity else None
            path.write_text(report_html.render_html(data, svg), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"--report {path}: cannot write it: {exc.strerror or exc}") from None
    return path
