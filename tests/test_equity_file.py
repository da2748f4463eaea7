"""The equity curve lives in `ID.equity.jsonl`, not in the snapshot; the store keeps the file equal
to the curve of the log: written as cycles complete, rebuilt or extended on open when missing,
torn or behind, and checked by `replay`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from clirun import invoke

from tradeexecutor.state.events import Event
from tradeexecutor.state.reducer import fold
from tradeexecutor.state.trade import Side
from tradeexecutor.state.valuation import EquitySummary
from tradeexecutor.store.equity import curve_of, encode_point, fold_with_curve, iter_points, read_curve
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.testing.scenario import Scenario

ID = "eq"


def _events(cycles: int = 60) -> list[Event]:
    scenario = Scenario(executor_id=ID, step=timedelta(minutes=1))
    return [*scenario.setup(cash=Decimal("10000")), *scenario.cycles(cycles)]


def _store(folder: Path, events: list[Event], snapshot: bool = True) -> StatePaths:
    store = StateStore(folder, ID).open()
    store.record(events)
    store.close(snapshot=snapshot)
    return store.paths


def _expected_file(events: list[Event]) -> bytes:
    _, points = fold_with_curve(events)
    return b"".join(encode_point(n, point) for n, point in enumerate(points, start=1))


def _reopen(paths: StatePaths) -> str:
    store = StateStore(paths.state_dir, paths.executor_id).open()
    store.close(snapshot=False)
    return store.equity_status


def test_the_store_writes_one_line_per_point_and_the_snapshot_keeps_only_the_summary(tmp_path: Path) -> None:
    events = _events()
    paths = _store(tmp_path, events)
    data = paths.equity.read_bytes()
    assert data == _expected_file(events)
    _, points = fold_with_curve(events)
    first = orjson.loads(data.splitlines()[0])
    assert list(first) == ["n", "at", "cycle", "equity", "cash", "positions_value"]
    assert first["n"] == 1 and first["cycle"] == 1 and first["at"].endswith("Z")
    assert first["equity"] == str(points[0].equity) and isinstance(first["cash"], str)
    snapshot = orjson.loads(paths.snapshot.read_bytes())
    assert "valuations" not in snapshot
    assert snapshot["equity"] == EquitySummary.of(points).to_dict()
    assert snapshot["equity"]["points"] == len(points) == 60
    assert [at for at, _ in read_curve(paths.equity)] == [p.at for p in points]
    assert read_curve(paths.equity) == curve_of(points) == curve_of(iter_points(paths.equity))


def test_a_buffered_backtest_store_writes_the_same_file(tmp_path: Path) -> None:
    events = _events()
    store = StateStore(tmp_path, ID, fsync_each_batch=False).open()
    for event in events:
        store.record([event])
    store.close()
    assert store.paths.equity.read_bytes() == _expected_file(events)


def test_the_summary_has_the_peak_and_the_deepest_drawdown() -> None:
    scenario = Scenario(step=timedelta(hours=1))
    events = [*scenario.setup(cash=Decimal("100"))]
    events += scenario.cycle_end(Decimal("100"))
    events += scenario.trade(Side.buy, Decimal("1"), Decimal("100"), fee=Decimal("0"))
    for price in ["110", "99", "121", "96.8", "130"]:
        events += scenario.cycle_end(Decimal(price))
    summary = fold(events).equity
    assert summary.points == 6 and summary.peak_equity == 130
    assert summary.max_drawdown == Decimal("0.2")  # 121 -> 96.8
    assert summary.last is not None and summary.last.equity == 130


def test_a_missing_equity_file_is_rebuilt_from_the_log_on_open(tmp_path: Path) -> None:
    events = _events()
    paths = _store(tmp_path, events)
    paths.equity.unlink()
    assert _reopen(paths) == "rebuilt 60 points"
    assert paths.equity.read_bytes() == _expected_file(events)
    assert _reopen(paths) == "ok"


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    events = _events()
    paths = _store(tmp_path, events)
    whole = paths.equity.read_bytes()
    with open(paths.equity, "ab") as handle:
        handle.write(b'{"n":61,"at":"2026-01-0')
    assert _reopen(paths) == "cut a torn line"
    assert paths.equity.read_bytes() == whole


@pytest.mark.parametrize("snapshot", [True, False], ids=["from the snapshot", "without a snapshot"])
def test_a_file_behind_the_log_is_extended(tmp_path: Path, snapshot: bool) -> None:
    """What a kill between the log's fsync and the equity write leaves: the file lacks the last
    points (and may end in half a line)."""
    events = _events(60)
    paths = _store(tmp_path, events[:-40], snapshot=snapshot)  # the snapshot (if any) is before the tail
    store = StateStore(tmp_path, ID).open()
    store.record(events[-40:])
    store.close(snapshot=False)
    whole = paths.equity.read_bytes()
    lines = whole.splitlines(keepends=True)
    paths.equity.write_bytes(b"".join(lines[:-5]) + lines[-5][:30])
    assert _reopen(paths) == "extended by 5 points"
    assert paths.equity.read_bytes() == whole == _expected_file(events)


def test_a_file_that_is_not_the_logs_curve_is_rebuilt(tmp_path: Path) -> None:
    events = _events()
    paths = _store(tmp_path, events)
    whole = paths.equity.read_bytes()
    edited = whole.rsplit(b'"equity":"', 1)
    paths.equity.write_bytes(edited[0] + b'"equity":"1' + edited[1])  # the last point's equity changed
    assert _reopen(paths) == "rebuilt 60 points"
    assert paths.equity.read_bytes() == whole
    paths.equity.write_bytes(whole + encode_point(61, fold_with_curve(events)[1][-1]))  # ahead of the log
    assert _reopen(paths) == "rebuilt 60 points"
    assert paths.equity.read_bytes() == whole


def test_the_snapshot_does_not_grow_with_cycles(tmp_path: Path) -> None:
    sizes = []
    for cycles in (1_000, 10_000):
        scenario = Scenario(executor_id=ID, step=timedelta(minutes=1))
        state = fold([*scenario.setup(), *scenario.cycles(cycles, trade_every=10**9)])
        sizes.append(len(dump_state(state)))
    assert abs(sizes[1] - sizes[0]) < 100, sizes


def test_a_version_1_snapshot_with_its_curve_inside_is_migrated_and_the_file_rebuilt(tmp_path: Path) -> None:
    events = _events()
    paths = _store(tmp_path, events)
    _, points = fold_with_curve(events)
    raw = orjson.loads(unseal(paths.snapshot.read_bytes())[0])
    old = {("valuations" if k == "equity" else k): ([p.to_dict() for p in points] if k == "equity" else v)
           for k, v in raw.items()}  # fmt: skip
    old["schema_version"] = 1
    paths.snapshot.write_bytes(orjson.dumps(old))  # unsealed, as snapshots were before the chain
    paths.equity.unlink()
    store = StateStore(tmp_path, ID).open()  # the long way: checked against the rebuilt state, it matches
    assert store.state.equity.points == 60 and store.equity_status == "rebuilt 60 points"
    store.close()
    assert orjson.loads(unseal(paths.snapshot.read_bytes())[0]) == raw
    assert paths.equity.read_bytes() == _expected_file(events)


def test_replay_checks_the_equity_file_against_the_log(tmp_path: Path) -> None:
    events = _events()
    paths = _store(tmp_path, events)
    args = ("replay", "--state-dir", str(tmp_path), "--id", ID)
    result = invoke(*args)
    assert result.exit_code == 0
    assert f"match: the equity file {paths.equity} holds the 60 points of the curve rebuilt from the log" in result.stdout
    whole = paths.equity.read_bytes()
    paths.equity.write_bytes(b"".join(whole.splitlines(keepends=True)[:-3]))
    result = invoke(*args)
    assert result.exit_code == 0
    assert f"note: the equity file {paths.equity} holds 57 of the 60 points; the next start extends it" in result.stdout
    paths.equity.write_bytes(whole.replace(b'"n":7,', b'"n":7,"x":1,'))
    result = invoke(*args)
    assert result.exit_code == 1
    assert (
        f"MISMATCH: the equity file {paths.equity} differs from the curve rebuilt from the log at point 7 "
        "(60 lines, 60 points rebuilt); the next start rebuilds it"
    ) in result.stdout


def test_every_line_validates_against_the_documented_schema_and_the_guide_line_is_real(tmp_path: Path) -> None:
    import jsonschema

    root = Path(__file__).resolve().parent.parent
    schema = orjson.loads((root / "docs" / "equity.schema.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    events = _events()
    lines = _store(tmp_path, events).equity.read_bytes().splitlines()
    for line in lines:
        assert list(validator.iter_errors(orjson.loads(line))) == []
    bad = orjson.loads(lines[0]) | {"equity": 10000.0}
    assert list(validator.iter_errors(bad))
    guide = (root / "docs" / "equity.md").read_text()
    assert lines[0].decode() in guide
