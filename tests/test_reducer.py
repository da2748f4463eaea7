"""The reducer: accounting from fills, the trade status machine, and refusals that change nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eventgen import PERP, SPOT, event_sequences, setup_events
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeexecutor.state.errors import InvalidEvent, SerialisationError
from tradeexecutor.state.events import (
    CycleCompleted,
    DepositMade,
    Event,
    FeeCharged,
    FillReceived,
    FundingPaid,
    OrderCancelled,
    OrderRejected,
    OrderSubmitted,
    PositionFrozen,
    PositionUnfrozen,
    StateCreated,
    StrategyStateChanged,
    TradePlanned,
    ValuationRecorded,
    WithdrawalMade,
)
from tradeexecutor.state.position import PositionStatus
from tradeexecutor.state.reducer import apply, fold
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import OrderType, Side, TradeStatus
from tradeexecutor.state.values import utc
from tradeexecutor.store.eventlog import GENESIS, encode_line
from tradeexecutor.store.snapshot import dump_state

T = utc(2026, 3, 2)
D = Decimal


def _state() -> State:
    return fold(setup_events())


def _plan(
    state: State, pair: int, side: Side, qty: str, position_id: int | None = None, **kw: object
) -> TradePlanned:
    trade_id = state.portfolio.next_trade_id
    position = state.portfolio.next_position_id if position_id is None else position_id
    order_type = OrderType.limit if "limit" in kw else OrderType.market
    return TradePlanned(
        T, trade_id, position, pair, side, order_type, D(qty), kw.get("limit"), f"c{trade_id}"
    )  # type: ignore[arg-type]


def _execute(state: State, plan: TradePlanned, price: str, fee: str = "0", fee_asset: str = "USDT") -> None:
    apply(state, plan)
    apply(state, OrderSubmitted(T, plan.trade_id, "x"))
    apply(state, FillReceived(T, plan.trade_id, plan.quantity, D(price), D(fee), fee_asset, None))


def test_spot_round_trip_moves_cash_and_realises_pnl_net_of_fees() -> None:
    state = _state()
    cash = state.cash()
    _execute(state, _plan(state, SPOT, Side.buy, "2"), "100", fee="0.2")
    position = state.portfolio.open_positions[1]
    assert position.quantity == 2 and position.average_price == 100
    assert state.cash() == cash - D("200.2")
    apply(state, ValuationRecorded(T, {SPOT: D("110")}))
    assert state.equity.last is not None and state.equity.last.equity == cash - D("0.2") + 20
    _execute(state, _plan(state, SPOT, Side.sell, "2", position_id=1), "105", fee="0.21")
    assert 1 in state.portfolio.closed_positions and not state.portfolio.open_positions
    closed = state.portfolio.closed_positions[1]
    assert closed.realised_pnl == 10 and closed.fees_paid == D("0.41")
    assert closed.net_pnl == D("9.59")
    assert state.cash() == cash + D("9.59")


def test_average_price_is_weighted_and_partial_sells_realise_against_it() -> None:
    state = _state()
    _execute(state, _plan(state, SPOT, Side.buy, "1"), "100")
    _execute(state, _plan(state, SPOT, Side.buy, "3", position_id=1), "200")
    position = state.portfolio.open_positions[1]
    assert position.average_price == 175 and position.quantity == 4
    _execute(state, _plan(state, SPOT, Side.sell, "1", position_id=1), "150")
    assert position.realised_pnl == -25 and position.quantity == 3
    assert position.status is PositionStatus.open


def test_fee_in_base_asset_reduces_the_position_and_counts_at_fill_price() -> None:
    state = _state()
    _execute(state, _plan(state, SPOT, Side.buy, "1"), "100", fee="0.001", fee_asset="BTC")
    position = state.portfolio.open_positions[1]
    assert position.quantity == D("0.999") and position.fees_paid == D("0.100")


def test_fee_in_a_third_asset_comes_from_that_reserve() -> None:
    state = _state()
    bnb = state.portfolio.reserve("BNB")
    _execute(state, _plan(state, SPOT, Side.buy, "1"), "100", fee="0.01", fee_asset="BNB")
    assert state.portfolio.reserve("BNB") == bnb - D("0.01")


def test_perpetual_short_settles_pnl_and_funding_in_quote_only() -> None:
    state = _state()
    cash = state.cash()
    _execute(state, _plan(state, PERP, Side.sell, "2"), "100", fee="0.1")
    position = state.portfolio.open_positions[1]
    assert position.direction.value == "short" and state.cash() == cash - D("0.1")
    apply(state, ValuationRecorded(T, {PERP: D("90")}))
    assert position.unrealised_pnl == 20 and state.total_equity() == cash - D("0.1") + 20
    apply(state, FundingPaid(T, 1, D("1.5")))
    apply(state, FundingPaid(T, 1, D("-0.5")))
    assert position.funding_paid == 1
    _execute(state, _plan(state, PERP, Side.buy, "2", position_id=1), "80", fee="0.1")
    assert state.portfolio.closed_positions[1].realised_pnl == 40
    assert state.cash() == cash + 40 - D("0.2") - 1
    kinds = [u.kind.value for u in state.portfolio.balance_updates]
    assert kinds.count("funding") == 2


def test_partial_fills_then_cancel_leaves_position_with_what_filled() -> None:
    state = _state()
    plan = _plan(state, SPOT, Side.buy, "1", limit=D("100"))
    apply(state, plan)
    apply(state, OrderSubmitted(T, 1, "x"))
    apply(state, FillReceived(T, 1, D("0.4"), D("100"), D("0"), "USDT", "f1"))
    trade = state.portfolio.trades[1]
    assert trade.status is TradeStatus.partially_filled and trade.remaining_quantity == D("0.6")
    apply(state, OrderCancelled(T, 1, "timeout"))
    assert trade.status is TradeStatus.cancelled and trade.status_reason == "timeout"
    assert state.portfolio.open_positions[1].quantity == D("0.4")


def test_rejected_opening_trade_closes_the_empty_position() -> None:
    state = _state()
    apply(state, _plan(state, SPOT, Side.buy, "1"))
    apply(state, OrderRejected(T, 1, "insufficient balance"))
    assert state.portfolio.closed_positions[1].quantity == 0
    assert state.portfolio.trades[1].status is TradeStatus.rejected


def _invalid_events(state: State) -> list[tuple[Event, str]]:
    """Events that must be refused against the state made by `_prepared`."""
    nt = state.portfolio.next_trade_id
    np_ = state.portfolio.next_position_id
    return [
        (StateCreated(T, "again", "USDT"), "created already"),
        (DepositMade(T, "DOGE", D("1"), ""), "unknown asset 'DOGE'"),
        (DepositMade(T, "USDT", D("-1"), ""), "must be positive"),
        (WithdrawalMade(T, "USDT", D("1e12"), ""), "reserve USDT would go negative"),
        (FeeCharged(T, "USDT", D("1"), 99, ""), "position 99 is unknown"),
        (
            TradePlanned(T, nt + 5, np_, SPOT, Side.buy, OrderType.market, D(1), None, "c"),
            "not the next trade id",
        ),
        (TradePlanned(T, nt, np_, 77, Side.buy, OrderType.market, D(1), None, "c"), "unknown pair id 77"),
        (
            TradePlanned(T, nt, np_, SPOT, Side.sell, OrderType.market, D(1), None, "c"),
            "cannot be opened by selling",
        ),
        (
            TradePlanned(T, nt, np_, SPOT, Side.buy, OrderType.limit, D(1), None, "c"),
            "needs a positive limit_price",
        ),
        (
            TradePlanned(T, nt, np_, SPOT, Side.buy, OrderType.market, D(0), None, "c"),
            "quantity 0 must be positive",
        ),
        (TradePlanned(T, nt, 1, SPOT, Side.buy, OrderType.market, D(1), None, "c"), "position 1 is frozen"),
        (
            TradePlanned(T, nt, np_ + 3, SPOT, Side.buy, OrderType.market, D(1), None, "c"),
            "unknown position id",
        ),
        (FillReceived(T, 999, D(1), D(1), D(0), "USDT", None), "unknown trade id 999"),
        (FillReceived(T, 1, D("0.1"), D(100), D(0), "USDT", None), "trade 1 is filled"),
        (FillReceived(T, 3, D("0.1"), D(100), D(0), "USDT", None), "trade 3 is planned"),
        (FillReceived(T, 2, D("5"), D(100), D(0), "USDT", None), "exceeds the 1 left of trade 2"),
        (FillReceived(T, 2, D("1"), D("1e9"), D(0), "USDT", None), "reserve USDT would go negative"),
        (FillReceived(T, 2, D("1"), D(100), D(-1), "USDT", None), "must not be negative"),
        (FillReceived(T, 2, D("1"), D(100), D(1), "XYZ", None), "unknown asset 'XYZ'"),
        (OrderSubmitted(T, 1, "x"), "cannot go from filled to submitted"),
        (OrderRejected(T, 1, "late"), "cannot go from filled to rejected"),
        (PositionFrozen(T, 1, "again"), "position 1 is not open"),
        (PositionUnfrozen(T, 2, ""), "position 2 is not frozen"),
        (FundingPaid(T, 2, D(1)), "spot, not perpetual"),
        (ValuationRecorded(T, {55: D(1)}), "unknown pair id 55"),
        (ValuationRecorded(T, {SPOT: D(0)}), "must be positive"),
        (CycleCompleted(T, 7), "cycle 7 does not follow 0"),
        (StrategyStateChanged(T, "m", "B", "C"), "is in state None, not 'B'"),
    ]


def _prepared() -> State:
    """Position 1 (spot, frozen, trade 1 filled); position 2 open with trade 2 submitted; trade 3 planned."""
    state = _state()
    _execute(state, _plan(state, SPOT, Side.buy, "1"), "100")
    apply(state, PositionFrozen(T, 1, "balance mismatch"))
    plan = _plan(state, SPOT, Side.buy, "1")
    apply(state, plan)
    apply(state, OrderSubmitted(T, plan.trade_id, "x2"))
    apply(state, _plan(state, SPOT, Side.buy, "1", position_id=2))
    return state


@pytest.mark.parametrize("index", range(len(_invalid_events(_prepared()))))
def test_invalid_event_is_refused_with_a_clear_reason_and_changes_nothing(index: int) -> None:
    state = _prepared()
    event, reason = _invalid_events(state)[index]
    before = dump_state(state)
    seq = state.last_event_seq
    with pytest.raises(InvalidEvent) as caught:
        apply(state, event)
    assert reason in str(caught.value)
    assert type(event).__name__ in str(caught.value)
    assert dump_state(state) == before and state.last_event_seq == seq


def test_events_before_state_created_and_out_of_sequence_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="first event must be state_created"):
        apply(State(), DepositMade(T, "USDT", D(1)))
    state = _state()
    with pytest.raises(InvalidEvent, match="sequence number 50 does not follow"):
        apply(state, DepositMade(T, "USDT", D(1)), seq=50)


@settings(max_examples=40, deadline=None)
@given(events=event_sequences(max_steps=25), data=st.data())
def test_any_invalid_event_at_any_point_leaves_state_untouched(
    events: list[Event], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=len(setup_events()), max_value=len(events)))
    state = fold(events[:cut])
    candidates = _invalid_events(_prepared())
    event, _ = data.draw(st.sampled_from(candidates))
    before = dump_state(state)
    try:
        apply(state, event)
    except InvalidEvent:
        assert dump_state(state) == before
    else:  # valid for this particular state: it must then round-trip through the log unchanged
        from tradeexecutor.state.codec import decode_event, encode_event
        from tradeexecutor.store.eventlog import verify_line

        record = verify_line(encode_line(state.last_event_seq, event, GENESIS), GENESIS)
        assert record["seq"] == state.last_event_seq
        assert decode_event(record["type"], record["at"], record["data"]) == event
        assert encode_event(event)[0] == type(event).type_name


def test_values_json_cannot_carry_are_refused_before_reaching_the_log() -> None:
    with pytest.raises(SerialisationError, match=r"DepositMade: amount: expected a Decimal, got float"):
        encode_line(1, DepositMade(T, "USDT", 1.5), GENESIS)  # type: ignore[arg-type]
    naive = T.replace(tzinfo=None)
    with pytest.raises(SerialisationError, match="naive datetime"):
        encode_line(1, DepositMade(naive, "USDT", D(1)), GENESIS)
    with pytest.raises(SerialisationError, match="does not fit a JavaScript number"):
        encode_line(1, CycleCompleted(T, 2**60), GENESIS)
    with pytest.raises(SerialisationError, match="not finite"):
        encode_line(1, DepositMade(T, "USDT", D("NaN")), GENESIS)


def test_reducer_arithmetic_does_not_depend_on_the_callers_decimal_context() -> None:
    """ccxt sets ROUND_HALF_UP on the thread's context; replay must still give the same bytes."""
    import decimal

    def build() -> bytes:
        state = _state()
        _execute(state, _plan(state, SPOT, Side.buy, "0.333333333333333333"), "100.123456789012345678")
        _execute(state, _plan(state, SPOT, Side.buy, "0.777777777777777777", position_id=1), "99.987654321098765432")
        _execute(state, _plan(state, SPOT, Side.sell, "0.5", position_id=1), "101.5")
        return dump_state(state)

    expected = build()
    with decimal.localcontext() as context:
        context.rounding = decimal.ROUND_HALF_UP
        context.prec = 12
        assert build() == expected


def test_templated_log_records_are_the_bytes_orjson_would_write() -> None:
    import orjson

    from tradeexecutor.state.codec import encode_event, encode_record
    from tradeexecutor.state.events import MarketObserved

    for event in [
        MarketObserved(T, 1, D("1.5"), D("2"), D("1E-8"), D("1.50"), D("0")),
        MarketObserved(T.replace(microsecond=123456), 2**52, D("-0"), D("3"), D("1"), D("2"), D("1e+3")),
        CycleCompleted(T, 5),
    ]:
        type_name, at, data = encode_event(event)
        assert encode_record(9, event) == orjson.dumps({"seq": 9, "type": type_name, "at": at, "data": data})
