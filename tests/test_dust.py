"""Dust: what a sell leaves below the venue's lot size, minimum quantity or minimum order value.

The reducer closes such a spot position and books the remainder as dust (deterministically, from
the pair's recorded rules); strategy helpers do not count dust as holding, so the bundled
strategies buy again instead of trying to sell what the exchange refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest

from tradeexecutor.analysis.performance import statistics_from_files, statistics_from_state
from tradeexecutor.analysis.statistics import format_statistics
from tradeexecutor.execution.reconciliation import reconcile
from tradeexecutor.execution.simulated import SimulatedVenue, SimulatedVenueConfig
from tradeexecutor.market.candles import Candle, load_candles
from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH
from tradeexecutor.state.codec import decode_event, encode_event
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    CycleCompleted,
    Event,
    FillReceived,
    MarketObserved,
    OrderRejected,
    OrderSubmitted,
    PairRulesRecorded,
    TradePlanned,
)
from tradeexecutor.state.reducer import apply, fold
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import OrderType, Side, Trade
from tradeexecutor.state.values import utc
from tradeexecutor.store.equity import curve_of, fold_with_curve
from tradeexecutor.store.eventlog import EventLog
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.api import CandleHistory, CycleInput
from tradeexecutor.strategy.loader import load_strategy
from tradeexecutor.strategy.runner import CycleRunner, MarketSpec, RunConfig
from tradeexecutor.strategy.runstate import RunState
from tradeexecutor.testing.scenario import Scenario

D = Decimal
LOT = D("0.00001")
MIN_NOTIONAL = D("5")
RULES = PairRulesRecorded(utc(2026, 1, 1), 1, lot_size=LOT, min_quantity=LOT, min_notional=MIN_NOTIONAL)


class Trader(Scenario):
    """A Scenario whose fills may pay their fee in the base asset, as a spot exchange charges buys."""

    def fill(self, side: Side, quantity: Decimal, price: Decimal, fee: Decimal, fee_asset: str,
             position_id: int | None = None, ordered: Decimal | None = None) -> list[Event]:  # fmt: skip
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        if position_id is None:
            position_id = self.next_position_id
            self.next_position_id += 1
        at = self.tick()
        return [
            TradePlanned(at, trade_id, position_id, 1, side, OrderType.market, ordered or quantity, None, f"te-{trade_id}"),
            OrderSubmitted(at, trade_id, f"x{trade_id}"),
            FillReceived(at, trade_id, quantity, price, fee, fee_asset, f"f{trade_id}"),
        ]


def _buy_with_base_fee(trader: Trader, quantity: str, price: str, position_id: int | None = None) -> list[Event]:
    q = D(quantity)
    return trader.fill(Side.buy, q, D(price), (q * D("0.001")).quantize(D("1e-8")), "BTC", position_id)


# --- the reducer ----------------------------------------------------------------------------------


def test_a_sell_leaving_less_than_a_lot_closes_the_position_and_books_the_dust() -> None:
    trader = Trader()
    events = [*trader.setup(cash=D("10000")), RULES]
    events += _buy_with_base_fee(trader, "0.01234", "60000")  # holds 0.01234 - 0.00001234
    events += trader.fill(Side.sell, D("0.01232"), D("61000"), D("0.75"), "USDT", position_id=1)
    state = fold(events)
    assert not state.portfolio.open_positions
    position = state.portfolio.closed_positions[1]
    assert position.quantity == 0
    assert position.dust == D("0.00000766")
    assert state.portfolio.reserve("BTC") == D("0.00000766")  # still on the exchange
    # The dust is written off at its average cost: net PnL is exactly what the cash gained.
    assert position.net_pnl == state.cash() - D("10000")
    assert state.total_equity() == state.cash()


def test_a_remainder_below_the_minimum_order_value_is_dust_at_the_fill_price() -> None:
    """The issue's 0.00005141 BTC: more than a lot, but worth 3.08 USDT under a 5 USDT minimum."""
    trader = Trader()
    events = [*trader.setup(cash=D("10000")), RULES]
    events += trader.fill(Side.buy, D("0.01005141"), D("60000"), D("0.6"), "USDT")
    events += trader.fill(Side.sell, D("0.01"), D("60000"), D("0.6"), "USDT", position_id=1)
    state = fold(events)
    assert state.portfolio.closed_positions[1].dust == D("0.00005141")
    # Worth more than the minimum at a higher price: the position stays open.
    trader = Trader()
    events = [*trader.setup(cash=D("10000")), RULES]
    events += trader.fill(Side.buy, D("0.01005141"), D("100000"), D("1"), "USDT")
    events += trader.fill(Side.sell, D("0.01"), D("100000"), D("1"), "USDT", position_id=1)
    state = fold(events)
    assert state.portfolio.open_positions[1].quantity == D("0.00005141")


def test_without_recorded_rules_only_less_than_one_unit_of_the_last_decimal_is_dust() -> None:
    trader = Trader()
    events = [*trader.setup(cash=D("10000"))]
    events += trader.fill(Side.buy, D("0.01005141"), D("60000"), D("0.6"), "USDT")
    events += trader.fill(Side.sell, D("0.01"), D("60000"), D("0.6"), "USDT", position_id=1)
    state = fold(events)
    assert state.portfolio.open_positions[1].quantity == D("0.00005141")
    assert not state.pairs[1].is_dust(D("0.00000001"), D("60000"), 8)
    assert state.pairs[1].is_dust(D("0.000000001"), D("60000"), 8)


def test_a_partly_filled_sell_cancelled_with_a_dust_remainder_closes_at_the_cancel() -> None:
    trader = Trader()
    events = [*trader.setup(cash=D("10000")), RULES]
    events += trader.fill(Side.buy, D("0.01"), D("60000"), D("0.6"), "USDT")
    events += trader.fill(Side.sell, D("0.00999"), D("60000"), D("0.6"), "USDT", position_id=1, ordered=D("0.01"))
    state = fold(events)
    assert 1 in state.portfolio.open_positions  # the sell is still working for its last 0.00001
    from tradeexecutor.state.events import OrderCancelled

    apply(state, OrderCancelled(trader.tick(), 2, "cancelled"))
    assert state.portfolio.closed_positions[1].dust == D("0.00001")


def test_a_small_buy_is_not_dust_only_a_sell_leaves_dust() -> None:
    trader = Trader()
    events = [*trader.setup(cash=D("10000")), RULES]
    events += trader.fill(Side.buy, D("0.00005"), D("60000"), D("0"), "USDT")
    state = fold(events)
    assert state.portfolio.open_positions[1].quantity == D("0.00005")


def test_pair_rules_are_validated_and_survive_the_log_and_the_snapshot() -> None:
    trader = Trader()
    state = fold([*trader.setup(cash=D("10000"))])
    with pytest.raises(InvalidEvent, match="unknown pair id 9"):
        apply(state, PairRulesRecorded(trader.now, 9, lot_size=LOT))
    with pytest.raises(InvalidEvent, match="min_notional 0 must be positive"):
        apply(state, PairRulesRecorded(trader.now, 1, min_notional=D(0)))
    assert state.pairs[1].min_notional is None
    kind, at, data = encode_event(RULES)
    assert decode_event(kind, at, data) == RULES
    events = [*Trader().setup(cash=D("10000")), RULES]
    trader = Trader()
    trader.next_trade_id = 1
    events += _buy_with_base_fee(trader, "0.01234", "60000")
    events += trader.fill(Side.sell, D("0.01232"), D("61000"), D("0.75"), "USDT", position_id=1)
    state = fold(events)
    assert State.from_dict(state.to_dict()) == state
    assert state.to_dict()["pairs"]["1"]["min_notional"] == "5"
    assert state.to_dict()["portfolio"]["closed_positions"]["1"]["dust"] == "0.00000766"
    # A pair without rules writes none: snapshots of old states stay byte for byte the same.
    assert "lot_size" not in fold(Trader().setup()).to_dict()["pairs"]["1"]


# --- statistics -----------------------------------------------------------------------------------


def _live_like(rules: bool) -> list[Event]:
    """Six round trips on an exchange taking buy fees in BTC; the sells sell whole lots only."""
    trader = Trader()
    events = [*trader.setup(cash=D("10000"))]
    if rules:
        events.append(RULES)
    position_id = None
    for i in range(6):
        state = fold(list(events))
        open_ = next(iter(state.portfolio.open_positions.values()), None)
        position_id = open_.id if open_ is not None else None
        buy = _buy_with_base_fee(trader, "0.01234", str(60000 + i * 100), position_id)
        events += buy
        held = fold(list(events)).portfolio.open_positions[next(iter(fold(list(events)).portfolio.open_positions))]
        lots = (held.quantity / LOT).to_integral_value(rounding=ROUND_DOWN) * LOT
        events += trader.fill(Side.sell, lots, D(60050 + i * 100), D("0.75"), "USDT", position_id=held.id)
        events += trader.cycle_end(D(60050 + i * 100))
    events += _buy_with_base_fee(trader, "0.01234", "61000",
                                 next(iter(fold(list(events)).portfolio.open_positions), None))  # fmt: skip
    events += trader.cycle_end(D("61000"))
    return events


def _fees_of_fills(state: State) -> Decimal:
    return sum(
        (
            fill.fee * (fill.price if fill.fee_asset == "BTC" else 1)
            for trade in state.portfolio.trades.values()
            for fill in trade.fills
        ),
        D(0),
    )


def test_a_position_kept_open_by_fee_dust_still_shows_its_fills_fees_and_exposure() -> None:
    """Without the venue's rules the remainders keep one position open for all 13 fills; the
    statistics used to show Trades 0, Fees 0.00, Exposure 0%."""
    state, points = fold_with_curve(_live_like(rules=False))
    assert len(state.portfolio.open_positions) == 1 and not state.portfolio.closed_positions
    stats = statistics_from_state(state, curve_of(points))
    assert stats.number_of_trades == 0
    assert stats.open_positions == 1
    assert stats.number_of_fills == 13
    assert stats.fees_paid == _fees_of_fills(state) > 0
    assert stats.exposure_time is not None and stats.exposure_time > 0.9
    position = next(iter(state.portfolio.open_positions.values()))
    assert stats.open_exposure == position.quantity * D("61000")
    table = dict(format_statistics(stats))
    assert table["Fills"] == "13" and table["Open positions"] == "1"


def test_with_the_rules_each_sell_closes_a_round_trip_and_the_dust_is_shown() -> None:
    state, points = fold_with_curve(_live_like(rules=True))
    assert len(state.portfolio.closed_positions) == 6
    stats = statistics_from_state(state, curve_of(points))
    assert stats.number_of_trades == 6 and stats.open_positions == 1
    assert stats.number_of_fills == 13
    assert stats.fees_paid == _fees_of_fills(state)
    dust = sum((p.dust for p in state.portfolio.closed_positions.values()), D(0))
    assert dust > 0 and state.portfolio.reserve("BTC") == dust
    assert stats.dust_value == dust * D("61000")
    assert "Dust written off" in dict(format_statistics(stats))


# --- reconciliation counts the dust in the base reserve -----------------------------------------


@dataclass
class _Account:
    balances: dict[str, Decimal]
    open_orders: list[dict[str, object]]


class _Exchange:
    market = {"base": "BTC", "quote": "USDT"}

    def __init__(self, balances: dict[str, Decimal]) -> None:
        self.balances = balances

    def account(self) -> _Account:
        return _Account(self.balances, [])

    def refresh(self, state: State, trade: Trade, record: object) -> None:
        raise AssertionError("no open trades to refresh")


def test_reconciliation_expects_the_dust_on_the_exchange() -> None:
    state = fold(_live_like(rules=True))
    held = next(iter(state.portfolio.open_positions.values())).quantity + state.portfolio.reserve("BTC")
    recorded: list[Event] = []
    venue = _Exchange({"BTC": held, "USDT": state.cash()})
    assert reconcile(state, venue, recorded.extend, state.equity.last_at) == []  # type: ignore[arg-type]
    assert recorded == []


# --- strategies re-enter after dust ---------------------------------------------------------------


def _cycle(state: State, price: str) -> CycleInput:
    return CycleInput(utc(2026, 1, 2), state.cycle + 1, state, state.pairs[1], CandleHistory(), D(price), None, {})


def _dust_position_state(rules: bool) -> State:
    trader = Trader()
    events = [*trader.setup(cash=D("10000"))]
    events += trader.fill(Side.buy, D("0.0101"), D("20000"), D("0.2"), "USDT")
    events += trader.fill(Side.sell, D("0.01"), D("20000"), D("0.2"), "USDT", position_id=1)
    if rules:
        events.append(RULES)  # learnt after the remainder was left (an older state)
    return fold(events)


def test_holding_measures_dust_against_the_venues_minimum_order_value() -> None:
    state = _dust_position_state(rules=True)
    position = state.portfolio.open_positions[1]
    assert position.quantity == D("0.0001")  # worth 2 USDT: over the old 1-unit floor, under the 5 minimum
    assert _cycle(state, "20000").holding() is None
    holding = _cycle(state, "60000").holding()  # worth 6 USDT there: sellable
    assert holding is not None and holding.id == position.id
    assert _cycle(state, "60000").holding(min_value=D("10")) is None  # a strategy may ask for more
    plain = _dust_position_state(rules=False)
    plain_holding = _cycle(plain, "20000").holding()  # no rules: the floor is 1 quote unit
    assert plain_holding is not None and plain_holding.id == 1


class ExchangeLikeVenue(SimulatedVenue):
    """The simulator with a spot exchange's habits: quantities rounded down to the lot, orders
    under the minimum value rejected, and buy fees taken in the base asset."""

    def round_quantity(self, quantity: Decimal) -> Decimal:
        return (quantity / LOT).to_integral_value(rounding=ROUND_DOWN) * LOT

    def submit(self, state: State, trade: Trade, candle: Candle, record: object) -> None:
        if trade.quantity * candle.close < MIN_NOTIONAL:
            record([OrderRejected(candle.at, trade.id, f"order value below the minimum {MIN_NOTIONAL}")])  # type: ignore[operator]
            return
        super().submit(state, trade, candle, record)  # type: ignore[arg-type]

    def _fill(self, state: State, trade: Trade, price: Decimal, candle: Candle, record: object, maker: bool) -> None:
        if trade.side is not Side.buy:
            super()._fill(state, trade, price, candle, record, maker)  # type: ignore[arg-type]
            return
        quantity = trade.remaining_quantity
        fee = (quantity * self.config.taker_fee).quantize(D("1e-8"))
        record([FillReceived(candle.at, trade.id, quantity, price, fee, "BTC", f"sim-fill-{trade.id}")])  # type: ignore[operator]


@pytest.mark.parametrize("strategy", ["sma_crossover", "buy_sell_cycle"])
def test_the_bundled_strategies_buy_again_after_a_dust_remainder_and_get_no_rejections(
    tmp_path: Path, strategy: str
) -> None:
    """An open position of 0.0001 BTC (2-3 USDT, under the 5 USDT minimum): the strategies used to
    count it as holding, try to sell it (rejected, again and again) and never buy again."""
    candles = load_candles(SAMPLE_DATA_PATH)
    trader = Trader(start=candles[0].at.replace(year=2024), executor_id="dust")
    seed = [*trader.setup(cash=D("10000"))]
    seed += trader.fill(Side.buy, D("0.0101"), D("20000"), D("0.2"), "USDT")
    seed += trader.fill(Side.sell, D("0.01"), D("20000"), D("0.2"), "USDT", position_id=1)
    state_dir = tmp_path / "state"
    with StateStore(state_dir, "dust", fsync_each_batch=False) as store:
        store.record(seed)
    market = MarketSpec(venue="simulated", lot_size=LOT, min_quantity=LOT, min_notional=MIN_NOTIONAL)
    config = RunConfig("dust", "backtest", market=market)
    with StateStore(state_dir, "dust", fsync_each_batch=False) as store:
        venue = ExchangeLikeVenue(SimulatedVenueConfig())
        outcome = CycleRunner(store, load_strategy(strategy), venue, candles, config, run_state=RunState()).run()
    assert outcome.crash is None
    events = [r.event for r in EventLog(state_dir / "dust.events.jsonl").records() if r.event]
    assert [e for e in events if isinstance(e, OrderRejected)] == []
    assert sum(1 for e in events if isinstance(e, PairRulesRecorded)) == 1
    buys = [t for t in outcome.state.portfolio.trades.values() if t.side is Side.buy and t.fills]
    assert buys[1].position_id == 1  # it bought again, into the dust position
    if strategy == "buy_sell_cycle":
        return  # no stop loss: on this falling sample it then holds what it bought
    assert len(buys) > 10  # it kept trading
    # Every sell left dust below a lot and closed its position.
    assert 1 in outcome.state.portfolio.closed_positions
    closed = list(outcome.state.portfolio.closed_positions.values())
    assert all(p.dust < LOT for p in closed)
    stats = statistics_from_files(outcome.state, store.paths)
    assert stats.number_of_trades == len(closed)
    assert stats.dust_value > 0
    assert not any(isinstance(e, (CycleCompleted, MarketObserved)) and e.at < candles[0].at for e in events[len(seed):])
