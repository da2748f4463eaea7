"""Property tests of the event-sourced core: folding, replay and snapshots agree byte for byte."""

from __future__ import annotations

from pathlib import Path

from eventgen import event_sequences
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeexecutor.state.reducer import fold
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state, load_snapshot, parse_state
from tradeexecutor.store.state_store import StateStore, load_state

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fresh_dir(tmp_path: Path) -> Path:
    """Hypothesis reuses the tmp_path of one test call for every example; give each its own folder."""
    index = len(list(tmp_path.iterdir()))
    folder = tmp_path / f"example{index}"
    folder.mkdir()
    return folder


@SETTINGS
@given(events=event_sequences(), batch=st.integers(min_value=1, max_value=17))
def test_live_fold_and_replayed_log_give_identical_json(tmp_path: Path, events: list, batch: int) -> None:
    folder = _fresh_dir(tmp_path)
    live = fold(events)
    with StateStore(folder, "p") as store:
        for start in range(0, len(events), batch):
            store.record(events[start : start + batch])
        assert dump_state(store.state) == dump_state(live)
    replayed = load_state(StatePaths(folder, "p"), use_snapshot=False)
    assert dump_state(replayed) == dump_state(live)
    assert replayed.last_event_seq == len(events)


@SETTINGS
@given(events=event_sequences(), data=st.data())
def test_snapshot_plus_tail_equals_full_replay(tmp_path: Path, events: list, data: st.DataObject) -> None:
    folder = _fresh_dir(tmp_path)
    cut = data.draw(st.integers(min_value=1, max_value=len(events)))
    store = StateStore(folder, "p").open()
    store.record(events[:cut])
    store.save_snapshot()
    store.record(events[cut:])
    store.close(snapshot=False)  # as if killed: the snapshot is behind the log
    paths = StatePaths(folder, "p")
    snapshot = load_snapshot(paths.snapshot)
    assert snapshot is not None and snapshot.last_event_seq == cut
    from_snapshot = load_state(paths)
    full = load_state(paths, use_snapshot=False)
    assert dump_state(from_snapshot) == dump_state(full) == dump_state(fold(events))


@SETTINGS
@given(events=event_sequences())
def test_snapshot_round_trips_byte_for_byte(tmp_path: Path, events: list) -> None:
    folder = _fresh_dir(tmp_path)
    with StateStore(folder, "p") as store:
        store.record(events)
    written, seal = unseal((folder / "p.json").read_bytes())
    assert seal is not None and seal.intact
    reread = parse_state(written)
    assert dump_state(reread) == written
    # Derived data is rebuilt on load: the trade index covers every position's trades.
    assert set(reread.portfolio.trades) == {
        trade_id
        for positions in (
            reread.portfolio.open_positions,
            reread.portfolio.closed_positions,
            reread.portfolio.frozen_positions,
        )
        for position in positions.values()
        for trade_id in position.trades
    }
    assert reread.total_equity() == fold(events).total_equity()
