"""The snapshot encoder keeps the encoded bytes of closed positions and finished trades, and its
snapshots are byte for byte those encoded from scratch: after every event, after many cycles,
after repairs, roll-backs and reloads."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from eventgen import event_sequences
from hypothesis import given, settings

from tradeexecutor.state.events import Event, LogRepairApplied, OrderSubmitted, RepairApplied, TradePlanned
from tradeexecutor.state.position import Position
from tradeexecutor.state.reducer import apply, fold
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import OrderType, Side, Trade
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state, load_snapshot
from tradeexecutor.store.snapshot_encoder import SnapshotEncoder
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.testing.scenario import Scenario


def closed_state(round_trips: int) -> tuple[Scenario, State]:
    scenario = Scenario(realistic_ids=True)
    return scenario, fold([*scenario.setup(), *scenario.closed_positions(round_trips)])


def count_calls(monkeypatch: pytest.MonkeyPatch, cls: type[Any]) -> list[int]:
    """Counts calls of `cls.to_dict` (one item per call)."""
    calls: list[int] = []
    original = cls.to_dict

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "to_dict", counted)
    return calls


@settings(max_examples=60, deadline=None)
@given(events=event_sequences(max_steps=60))
def test_one_encoder_gives_the_bytes_of_a_fresh_encoding_after_every_event(events: list[Event]) -> None:
    # Random valid sequences: partial fills, cancels, repairs, freezing, funding, perpetuals.
    state = State()
    encoder = SnapshotEncoder()
    for event in events:
        apply(state, event)
        assert encoder.dump(state) == dump_state(state)


def test_many_cycles_with_positions_opening_and_closing_keep_the_bytes_identical() -> None:
    scenario = Scenario(realistic_ids=True)
    state = fold(scenario.setup())
    encoder = SnapshotEncoder()
    for chunk in range(40):
        for event in scenario.cycles(50, trade_every=3):
            apply(state, event)
        assert encoder.dump(state) == dump_state(state), f"after chunk {chunk}"
    assert len(state.portfolio.closed_positions) > 300
    assert encoder.kept_positions == len(state.portfolio.closed_positions)


def test_a_repeated_save_encodes_no_closed_position_and_no_finished_trade_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, state = closed_state(200)
    # A live position with a finished opening trade and an unfinished one.
    events = scenario.trade(Side.buy, Decimal("0.5"), Decimal("30000"))
    position_id = scenario.next_position_id - 1
    trade_id = scenario.next_trade_id
    scenario.next_trade_id += 1
    events += [
        TradePlanned(scenario.tick(), trade_id, position_id, 1, Side.sell, OrderType.market, Decimal("0.5"), None, "te-x"),
        OrderSubmitted(scenario.now, trade_id, "x-x"),
    ]
    fold(events, state)
    encoder = SnapshotEncoder()
    first = encoder.dump(state)
    positions = count_calls(monkeypatch, Position)
    trades = count_calls(monkeypatch, Trade)
    again = encoder.dump(state)
    assert again == first == dump_state(state)
    # dump_state above encoded 201 positions and 402 trades; the encoder only the live position
    # and its unfinished trade.
    assert len(positions) == 1 + 201
    assert len(trades) == 1 + 402


def test_new_closed_positions_are_appended_to_the_kept_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario, state = closed_state(50)
    encoder = SnapshotEncoder()
    encoder.dump(state)
    fold(scenario.closed_positions(3), state)
    positions = count_calls(monkeypatch, Position)
    assert encoder.dump(state) == dump_state(state)
    assert len(positions) == 3 + 53  # the three new ones, then the fresh encoding's 53


def test_a_repair_drops_the_kept_history() -> None:
    # A repair is the one way history may change in place; the reducer moves the portfolio's
    # history_revision and the encoder starts afresh.
    scenario, state = closed_state(20)
    encoder = SnapshotEncoder()
    encoder.dump(state)
    trade_id = scenario.next_trade_id
    fold(
        [
            TradePlanned(scenario.tick(), trade_id, scenario.next_position_id, 1, Side.buy, OrderType.market,
                         Decimal("1"), None, "te-r"),  # fmt: skip
            OrderSubmitted(scenario.now, trade_id, None),
        ],
        state,
    )
    revision = state.portfolio.history_revision
    apply(state, RepairApplied(scenario.tick(), trade_id, "operator: the exchange never had it"))
    assert state.portfolio.history_revision == revision + 1
    # What a repair might rewrite in place: an old closed position (here changed by hand, as
    # such a repair handler would, next to the revision it moves).
    state.portfolio.closed_positions[3].realised_pnl += 1
    assert encoder.dump(state) == dump_state(state)


def test_a_closed_position_replaced_in_the_map_is_encoded_again() -> None:
    _, state = closed_state(20)
    encoder = SnapshotEncoder()
    encoder.dump(state)
    closed = state.portfolio.closed_positions
    closed[5] = dataclasses.replace(closed[5], fees_paid=Decimal("123.4"))
    assert encoder.dump(state) == dump_state(state)
    del closed[7]
    assert encoder.dump(state) == dump_state(state)


def test_a_reloaded_or_rolled_back_state_is_encoded_from_its_own_objects(tmp_path: Any) -> None:
    scenario, state = closed_state(30)
    encoder = SnapshotEncoder()
    path = tmp_path / "s.json"
    path.write_bytes(encoder.dump(state))
    loaded = load_snapshot(path)
    assert loaded is not None
    loaded.portfolio.closed_positions[2].fees_paid += 1  # not the kept objects: seen
    assert encoder.dump(loaded) == dump_state(loaded) != dump_state(state)
    assert encoder.dump(state) == dump_state(state)


def test_the_store_saves_the_same_bytes_as_a_fresh_encoding_after_many_saves(tmp_path: Any) -> None:
    scenario = Scenario(realistic_ids=True)
    with StateStore(tmp_path, "enc") as store:
        store.record(scenario.setup())
        for _ in range(30):
            store.record(list(scenario.cycles(20, trade_every=2)))
            store.save_snapshot()
            assert unseal(store.paths.snapshot.read_bytes())[0] == dump_state(store.state)
        store.record(list(scenario.cycles(7, trade_every=2)))
    reopened = StateStore(tmp_path, "enc").open()  # start-up checks the snapshot against the log
    try:
        assert unseal(reopened.paths.snapshot.read_bytes())[0] == dump_state(reopened.state)
        assert len(reopened.state.portfolio.closed_positions) > 100
    finally:
        reopened.close(snapshot=False)


def test_a_log_repair_that_restores_a_snapshot_state_is_encoded_from_the_restored_state() -> None:
    scenario, state = closed_state(20)
    encoder = SnapshotEncoder()
    encoder.dump(state)
    _, other = closed_state(5)
    other.portfolio.closed_positions[2].fees_paid += 7  # differs from the kept bytes
    restored = LogRepairApplied(
        scenario.tick(), (99,), ("fill_received",), ("0" * 64,), ("{...",), "one damaged line", dump_state(other).decode()
    )
    apply(state, restored)
    assert encoder.dump(state) == dump_state(state)
    assert encoder.kept_positions == 5


def test_a_loaded_state_holds_each_instant_once(tmp_path: Any) -> None:
    # Equal timestamps read from a snapshot are one object: less memory, and the next save
    # formats each instant once (the first save after a start is the slow one).
    _, state = closed_state(3)
    path = tmp_path / "s.json"
    path.write_bytes(dump_state(state))
    loaded = load_snapshot(path)
    assert loaded is not None
    trade = loaded.portfolio.closed_positions[2].trades[3]
    assert trade.planned_at == trade.updated_at == trade.fills[0].at
    assert trade.planned_at is trade.updated_at is trade.fills[0].at


def test_the_seal_is_the_documented_members_and_the_sha256_of_everything_before_the_digest() -> None:
    import hashlib

    from tradeexecutor.store.seal import seal

    _, state = closed_state(30)
    body = dump_state(state)
    head = body[:-1] + b',"log_chain":"0001020304050607","log_offset":1234'
    expected = head + b',"digest":"' + hashlib.sha256(head).hexdigest().encode() + b'"}'
    assert seal(body, bytes(range(8)), 1234) == expected
    assert unseal(expected)[0] == body


def test_text_with_control_characters_is_encoded_the_same(tmp_path: Any) -> None:
    # The closed positions go through the encoder as a raw NUL byte stand-in: text holding one
    # (escaped by orjson) must not be taken for it.
    scenario, state = closed_state(5)
    trade_id = scenario.next_trade_id
    fold(
        [
            TradePlanned(scenario.tick(), trade_id, scenario.next_position_id, 1, Side.buy, OrderType.market,
                         Decimal("1"), None, "te-\x00-\x01"),  # fmt: skip
            OrderSubmitted(scenario.now, trade_id, "x\x00y"),
        ],
        state,
    )
    encoder = SnapshotEncoder()
    assert encoder.dump(state) == dump_state(state)
    assert b"\x00" not in dump_state(state)


def test_a_store_opened_on_its_snapshot_keeps_the_closed_positions_bytes_of_the_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = Scenario(realistic_ids=True)
    with StateStore(tmp_path, "big") as store:
        store.record([*scenario.setup(), *scenario.closed_positions(1200)])
    with StateStore(tmp_path, "big") as reopened:
        assert reopened._encoder.kept_positions == 1200  # taken from the file, not encoded
        reopened.record(list(scenario.closed_positions(3)))
        positions = count_calls(monkeypatch, Position)
        reopened.save_snapshot()
        assert len(positions) == 3  # only the three closed since
        monkeypatch.undo()
        assert unseal(reopened.paths.snapshot.read_bytes())[0] == dump_state(reopened.state)


def test_closed_positions_bytes_that_differ_from_a_fresh_encoding_are_not_adopted() -> None:
    _, state = closed_state(50)
    data = dump_state(state)
    assert SnapshotEncoder().adopt(state, data)
    # A member in another layout (an older or newer writer) in one of the sampled positions:
    changed = data.replace(b'"1":{"pair_id":1,"direction":"long"', b'"1":{"pair_id":1,"direction":"LONG"')
    assert changed != data
    assert not SnapshotEncoder().adopt(state, changed)
    version = b'"schema_version":%d' % state.schema_version
    newer = b'"schema_version":%d' % (state.schema_version + 1)
    assert not SnapshotEncoder().adopt(state, data.replace(version, newer, 1))
    _, one_less = closed_state(50)
    del one_less.portfolio.closed_positions[50]
    assert not SnapshotEncoder().adopt(one_less, data)
    encoder = SnapshotEncoder()
    assert encoder.adopt(state, data) and encoder.dump(state) == data
