"""One injected clock: what a session or a repair records outside a backtest takes its time from
`SessionConfig.clock` (the wall clock by default, frozen here with freezegun), never from a
`datetime.now` of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from freezegun import freeze_time

from tradeexecutor.app.session import SessionConfig, run_session
from tradeexecutor.clock import wall_clock
from tradeexecutor.state.clock import require_utc
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.strategy.runstate import RUN_STATE


def recorded(state_dir: Path, type_name: str) -> list[str]:
    log = StatePaths(state_dir, "default").log
    return [r["at"] for r in map(orjson.loads, log.read_bytes().splitlines()) if r["type"] == type_name]


def test_the_wall_clock_is_utc_at_the_logs_millisecond_precision() -> None:
    with freeze_time("2026-03-04 05:06:07.891234"):
        now = wall_clock()
    assert now == datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC) and now.tzinfo is UTC


def test_require_utc_refuses_naive_and_other_zones() -> None:
    with pytest.raises(ValueError, match=r"^the clock gave the naive datetime .*: timestamps must be timezone-aware UTC$"):
        require_utc(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match=r"^feed gave 2026-01-01T02:00:00\+02:00, which is not UTC"):
        require_utc(datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), "feed")
    assert require_utc(datetime(2026, 1, 1, tzinfo=timezone(timedelta(0)))).tzinfo is UTC


def test_a_paper_session_records_its_start_at_the_frozen_wall_clock(tmp_path: Path) -> None:
    with freeze_time("2026-03-04 05:06:07.891234"):
        run_session(SessionConfig(mode="paper", state_dir=tmp_path, max_cycles=2))
    assert recorded(tmp_path, "executor_started") == ["2026-03-04T05:06:07.891Z"]
    assert RUN_STATE.started_at == datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)


def test_a_session_takes_its_time_from_the_injected_clock(tmp_path: Path) -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    run_session(SessionConfig(mode="paper", state_dir=tmp_path, max_cycles=1, clock=lambda: at))
    assert recorded(tmp_path, "executor_started") == ["2030-01-02T03:04:05.000Z"]


def test_session_repair_and_the_model_read_no_clock_of_their_own() -> None:
    """The wall clock is read in one place (`tradeexecutor/clock.py`); the session, repair and the
    model get a `Clock` instead (the model none at all)."""
    package = Path(__file__).parent.parent / "tradeexecutor"
    sources = [package / "app", package / "repair", package / "state", package / "cli" / "repair.py"]
    files = [f for s in sources for f in (sorted(s.rglob("*.py")) if s.is_dir() else [s])]
    reads = ("datetime.now(", "datetime.utcnow(", "time.time(", "date.today(")
    offenders = [
        f"{f.relative_to(package)}:{number}: {line.strip()}"
        for f in files
        for number, line in enumerate(f.read_text().splitlines(), start=1)
        if any(read in line for read in reads)
    ]
    assert len(files) > 20 and offenders == []
