"""When a run saves its snapshot: paper and live after every cycle that moved money or orders and
every `snapshot_every` seconds; a backtest only at the end unless `snapshot_every` is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tradeexecutor.app.session import SessionConfig, run_session
from tradeexecutor.market.candles import load_candles
from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH
from tradeexecutor.state.events import EVENT_TYPES
from tradeexecutor.store.snapshot_writer import MONEY_EVENTS
from tradeexecutor.store.state_store import StateStore

STRATEGY = '''
from decimal import Decimal

from tradeexecutor.strategy.intents import close_position, market_buy


def decide(cycle):
    if cycle.cycle % 4 or cycle.pending_trades():
        return []
    if cycle.position is not None and cycle.position.quantity >= Decimal("0.00001"):
        return [close_position()]
    return [market_buy(value=Decimal("100"))]
'''

MONEY_TYPES = {cls.type_name for cls in MONEY_EVENTS}


@pytest.fixture
def saves(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """(last_event_seq, wait) of every snapshot the run saves."""
    seen: list[tuple[int, bool]] = []
    original = StateStore.save_snapshot

    def recorded(self: StateStore, wait: bool = True) -> int:
        seen.append((self.state.last_event_seq, wait))
        return original(self, wait)

    monkeypatch.setattr(StateStore, "save_snapshot", recorded)
    return seen


def run(tmp_path: Path, mode: str, **options: Any) -> list[dict[str, Any]]:
    strategy = tmp_path / "every_fourth.py"
    tmp_path.mkdir(parents=True, exist_ok=True)
    strategy.write_text(STRATEGY)
    config = SessionConfig(
        mode=mode, strategy=str(strategy), candles=load_candles(SAMPLE_DATA_PATH)[:60], state_dir=tmp_path / "state",
        **options,
    )  # fmt: skip
    result = run_session(config)
    return [orjson.loads(line) for line in result.paths.log.read_bytes().splitlines()]


def test_money_event_types_are_event_types() -> None:
    assert MONEY_TYPES <= set(EVENT_TYPES)
    assert {"fill_received", "order_cancelled", "deposit_made", "order_rejected"} <= MONEY_TYPES
    assert not {"market_observed", "cycle_completed"} & MONEY_TYPES


def test_a_paper_run_saves_after_exactly_the_cycles_that_moved_money(
    tmp_path: Path, saves: list[tuple[int, bool]]
) -> None:
    records = run(tmp_path, "paper", snapshot_every=1e9)
    expected, saved, money = [], 0, 0
    for record in records:
        if record["type"] in MONEY_TYPES:
            money = record["seq"]
        if record["type"] == "cycle_completed" and money > saved:
            expected.append(record["seq"])
            saved = record["seq"]
    assert len(expected) >= 10
    assert [seq for seq, wait in saves if not wait] == expected
    assert saves[-1] == (records[-1]["seq"], True)  # and the last one when the store closes


def test_snapshot_every_saves_at_least_that_often_whatever_happened(
    tmp_path: Path, saves: list[tuple[int, bool]]
) -> None:
    records = run(tmp_path, "paper", snapshot_every=1e-9)  # due at the end of every cycle
    cycles = [r["seq"] for r in records if r["type"] == "cycle_completed"]
    assert [seq for seq, wait in saves if not wait] == cycles


def test_a_backtest_saves_only_at_the_end_unless_snapshot_every_is_set(
    tmp_path: Path, saves: list[tuple[int, bool]]
) -> None:
    records = run(tmp_path / "a", "backtest")
    assert saves == [(records[-1]["seq"], True)]
    saves.clear()
    records = run(tmp_path / "b", "backtest", snapshot_every=1e-9)
    cycles = [r["seq"] for r in records if r["type"] == "cycle_completed"]
    assert [seq for seq, wait in saves if not wait] == cycles
