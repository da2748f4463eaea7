"""The bundled buy/sell cycle strategy, run by the cycle runner on the simulated venue."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradeexecutor.execution.simulated import SimulatedVenue, SimulatedVenueConfig
from tradeexecutor.market.candles import Candle
from tradeexecutor.state.events import (
    CycleCompleted,
    Event,
    ExecutorStarted,
    StrategyDecided,
    StrategyStateChanged,
    TradePlanned,
)
from tradeexecutor.state.position import Position
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import FINISHED, Side, Trade, TradeStatus
from tradeexecutor.state.values import utc
from tradeexecutor.store.eventlog import EventLog
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.loader import LoadedStrategy, load_strategy
from tradeexecutor.strategy.runner import CycleRunner, RunConfig, RunOutcome
from tradeexecutor.strategy.runstate import RunState

D = Decimal
START = utc(2026, 1, 1)
HOUR = timedelta(hours=1)
EXECUTOR = "cycle"
MACHINE = "buy_sell_cycle"
STRATEGY = load_strategy("buy_sell_cycle")
MODULE = STRATEGY.module
FEE = D("0.001")


def sine(count: int, period: int = 24, amplitude: str = "8") -> list[Candle]:
    """Closes on a sine wave around 100; bars open at the previous close, range ±0.2% around."""
    candles, previous = [], D(100)
    for i in range(count):
        wave = D(f"{math.sin(2 * math.pi * i / period):.6f}")
        close = (D(100) + D(amplitude) * wave).quantize(D("0.01"))
        high = (max(previous, close) * D("1.002")).quantize(D("0.01"))
        low = (min(previous, close) * D("0.998")).quantize(D("0.01"))
        candles.append(Candle(START + i * HOUR, previous, high, low, close, D(1)))
        previous = close
    return candles


CANDLES = sine(300)


def run(
    folder: Path,
    candles: list[Candle] = CANDLES,
    max_cycles: int | None = None,
    strategy: LoadedStrategy = STRATEGY,
) -> RunOutcome:
    venue = SimulatedVenue(SimulatedVenueConfig(maker_fee=FEE, taker_fee=FEE))
    with StateStore(folder, EXECUTOR, fsync_each_batch=False) as store:
        config = RunConfig(EXECUTOR, "backtest", max_cycles=max_cycles)
        return CycleRunner(store, strategy, venue, candles, config, run_state=RunState()).run()


def logged(folder: Path) -> list[Event]:
    return [r.event for r in EventLog(folder / f"{EXECUTOR}.events.jsonl").records() if r.event]


def transitions(events: list[Event]) -> Counter[tuple[str | None, str]]:
    return Counter((e.from_state, e.to_state) for e in events if type(e) is StrategyStateChanged)


def traded(state: State) -> list[Position]:
    """Closed positions that bought something (an expired buy leaves an empty closed position)."""
    return [p for p in state.portfolio.closed_positions.values() if any(t.fills for t in p.trades.values())]


def pending(state: State, side: Side) -> list[Trade]:
    """Orders on `side` that have not finished."""
    return [t for t in state.portfolio.trades.values() if t.side is side and t.status not in FINISHED]


def states_after_each_cycle(events: list[Event]) -> dict[int, tuple[str | None, Decimal, int, int]]:
    """Replays the log; at each cycle's end: (machine state, quantity held, open buys, open sells)."""
    state: State = State()
    seen: dict[int, tuple[str | None, Decimal, int, int]] = {}
    for event in events:
        apply(state, event)
        if type(event) is CycleCompleted:
            seen[event.cycle] = (
                state.strategy_states.get(MACHINE),
                sum((p.quantity for p in state.portfolio.open_positions.values()), D(0)),
                len(pending(state, Side.buy)),
                len(pending(state, Side.sell)),
            )
    return seen


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunOutcome, list[Event]]:
    folder = tmp_path_factory.mktemp("whole")
    return run(folder), logged(folder)


# --- pricing --------------------------------------------------------------------------------------


def test_margin_is_k_times_the_stdev_of_recent_returns_clamped_and_waits_for_history() -> None:
    parameters = dict(STRATEGY.parameters, window=4, k=D(2), min_margin=D("0.001"), max_margin=D("0.05"))
    closes = [100.0, 101.0, 100.5, 102.0, 101.0, 103.0]
    assert MODULE.volatility_margin(closes[:4], parameters) is None  # 3 returns < window
    returns = [b / a - 1 for a, b in zip(closes[-5:-1], closes[-4:], strict=True)]
    expected = D(f"{2 * statistics.stdev(returns):.10f}").quantize(D("0.0001"), rounding="ROUND_UP")
    assert expected == D("0.0292")  # 2 * 0.014558.. rounded up to a basis point
    assert MODULE.volatility_margin(closes, parameters) == expected
    assert MODULE.volatility_margin([100.0] * 6, parameters) == D("0.001")  # flat: the minimum
    assert MODULE.volatility_margin([100.0, 130.0] * 3, parameters) == D("0.05")  # wild: the maximum


def test_prices_are_cents_the_buy_rounded_down_the_target_up_and_the_target_pays_both_fees() -> None:
    assert MODULE.buy_price(D("100"), D("0.0123")) == D("98.77")
    target = MODULE.sell_target(D("100"), FEE, D("0.002"))
    assert target == D("100.40")  # 100 * (1 + 0.002 + 0.002)
    assert MODULE.sell_target(D("99.99"), FEE, D("0.002")) == D("100.39")  # 100.38996 rounded up
    # Buying one at 100 and selling at the target, paying 0.1% each side, leaves a profit.
    assert target * (1 - FEE) - D(100) * (1 + FEE) == D("0.1996")


def test_sell_margin_halves_after_each_timeout_down_to_the_minimum() -> None:
    parameters = STRATEGY.parameters
    assert [MODULE.sell_margin(D("0.02"), n, parameters) for n in range(5)] == [
        D("0.02"),
        D("0.01"),
        D("0.005"),
        D("0.0025"),
        D("0.002"),
    ]


# --- behaviour over an oscillating market ---------------------------------------------------------


def test_machine_goes_through_all_four_states_several_times(uninterrupted) -> None:
    outcome, events = uninterrupted
    assert outcome.crash is None and outcome.cycles_run == len(CANDLES)
    moves = transitions(events)
    for move in [
        ("READY_TO_BUY", "BUYING"),
        ("BUYING", "READY_TO_SELL"),
        ("READY_TO_SELL", "SELLING"),
        ("SELLING", "READY_TO_BUY"),
        ("BUYING", "READY_TO_BUY"),  # a buy that expired unfilled
        ("SELLING", "READY_TO_SELL"),  # a sell that expired, re-priced
    ]:
        assert moves[move] >= 3, (move, moves)
    assert moves[(None, "BUYING")] == 1  # the first move, out of the initial READY_TO_BUY
    assert len(traded(outcome.state)) >= 8


def test_every_closed_position_is_profitable_net_of_fees_and_never_sold_below_the_floor(
    uninterrupted,
) -> None:
    outcome, _ = uninterrupted
    min_margin = STRATEGY.parameters["min_margin"]
    for position in traded(outcome.state):
        assert position.realised_pnl - position.fees_paid > 0, position
        buys = [t for t in position.trades.values() if t.side is Side.buy]
        sells = [t for t in position.trades.values() if t.side is Side.sell]
        assert len(buys) == 1 and buys[0].status is TradeStatus.filled
        assert [t.status for t in sells][-1] is TradeStatus.filled
        assert all(t.status is TradeStatus.expired for t in sells[:-1])
        floor = MODULE.sell_target(position.average_price, FEE, min_margin)
        limits = [t.limit_price for t in sells]
        assert all(limit >= floor for limit in limits)
        assert limits == sorted(limits, reverse=True)  # each re-price lowers the target
        if len(sells) > 4:
            assert limits[-1] == floor
    # Accounting: the cash is the deposit plus the closed cycles' net PnL minus what the open one cost.
    closed = sum((p.realised_pnl - p.fees_paid for p in traded(outcome.state)), D(0))
    still_open = outcome.state.portfolio.open_positions.values()
    cost = sum((p.quantity * p.average_price + p.fees_paid for p in still_open), D(0))
    assert closed > 0 and outcome.state.cash() == D(10000) + closed - cost


def test_recorded_machine_state_tracks_the_orders_after_every_cycle(uninterrupted) -> None:
    outcome, events = uninterrupted
    window = STRATEGY.parameters["window"]
    seen = states_after_each_cycle(events)
    assert all(seen[cycle][0] is None for cycle in range(1, window + 1))  # warming up: no decision
    for cycle in range(window + 1, len(CANDLES) + 1):
        machine_state, held, buys, sells = seen[cycle]
        if machine_state == "BUYING":
            assert (held, buys, sells) == (0, 1, 0), cycle
        else:
            assert machine_state == "SELLING", cycle
            assert held > 0 and (buys, sells) == (0, 1), cycle
    assert outcome.state.strategy_states == {MACHINE: seen[len(CANDLES)][0]}


def test_first_buy_uses_the_allocation_of_cash_below_the_last_price(uninterrupted) -> None:
    _, events = uninterrupted
    window = STRATEGY.parameters["window"]
    first = next(e for e in events if type(e) is StrategyDecided)
    assert first.cycle == window + 1
    transition, order = first.intents
    assert transition == "transition buy_sell_cycle: None -> BUYING"
    margin = MODULE.volatility_margin([float(c.close) for c in CANDLES[: window + 1]], STRATEGY.parameters)
    limit = MODULE.buy_price(CANDLES[window].close, margin)
    assert order == f"limit buy value=5000.00 limit={limit} timeout=14400s"
    planned = next(e for e in events if type(e) is TradePlanned)
    assert planned.limit_price == limit and planned.expires_at == CANDLES[window].at + 4 * HOUR


# --- restarts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("machine_state", ["BUYING", "SELLING"])
def test_restart_resumes_in_the_recorded_state_and_ends_with_the_same_positions(
    tmp_path: Path, uninterrupted, machine_state: str
) -> None:
    whole, events = uninterrupted
    seen = states_after_each_cycle(events)
    stop = next(c for c in range(150, len(CANDLES)) if seen[c][0] == machine_state)
    first = run(tmp_path, max_cycles=stop)
    assert first.state.strategy_states == {MACHINE: machine_state}
    assert len(pending(first.state, Side.buy if machine_state == "BUYING" else Side.sell)) == 1
    second = run(tmp_path)
    assert second.cycles_run == len(CANDLES) - stop and second.state.cycle == len(CANDLES)
    resumed = logged(tmp_path)
    # The first move after the restart starts from the state recorded before it.
    after = [e for e in resumed if type(e) is StrategyStateChanged and e.at > CANDLES[stop - 1].at]
    assert after[0].from_state == machine_state
    assert transitions(resumed) == transitions(events)
    # Same orders, fills and positions: the logs are equal but for the second executor_started.
    assert [e for e in resumed if type(e) is not ExecutorStarted] == [
        e for e in events if type(e) is not ExecutorStarted
    ]
    assert second.state.portfolio.closed_positions == whole.state.portfolio.closed_positions
    assert second.state.portfolio.open_positions == whole.state.portfolio.open_positions
    assert second.state.portfolio.reserves == whole.state.portfolio.reserves
    assert second.state.strategy_states == whole.state.strategy_states


def test_machine_left_in_buying_without_an_order_places_the_buy_again_once(tmp_path: Path) -> None:
    """A process that died between recording BUYING and sending the buy: the restart re-places it."""
    idle = tmp_path / "idle.py"
    idle.write_text("def decide(cycle):\n    return []\n")
    run(tmp_path, max_cycles=30, strategy=load_strategy(str(idle)))
    store = StateStore(tmp_path, EXECUTOR, fsync_each_batch=False).open()
    try:
        store.record([StrategyStateChanged(CANDLES[29].at, MACHINE, None, "BUYING")])
    finally:
        store.close()
    outcome = run(tmp_path, max_cycles=1)
    decided = [e for e in logged(tmp_path) if type(e) is StrategyDecided]
    assert [d.cycle for d in decided] == [31]
    assert decided[0].intents[:2] == (
        "transition buy_sell_cycle: BUYING -> READY_TO_BUY",
        "transition buy_sell_cycle: READY_TO_BUY -> BUYING",
    )
    assert decided[0].intents[2].startswith("limit buy value=5000.00")
    assert len(pending(outcome.state, Side.buy)) == 1
    assert outcome.state.strategy_states == {MACHINE: "BUYING"}


def test_parameters_can_be_overridden_from_text(tmp_path: Path) -> None:
    strategy = load_strategy("buy_sell_cycle", {"window": "12", "k": "0.5", "timeout_minutes": "120"})
    assert (strategy.parameters["window"], strategy.parameters["k"]) == (12, D("0.5"))
    outcome = run(tmp_path, candles=CANDLES[:100], strategy=strategy)
    first = next(e for e in logged(tmp_path) if type(e) is TradePlanned)
    assert first.at == CANDLES[12].at and first.expires_at == CANDLES[12].at + 2 * HOUR
    assert outcome.crash is None and traded(outcome.state)


def test_same_backtest_twice_writes_byte_identical_files(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        run(tmp_path / folder, candles=CANDLES[:150])
    for name in (f"{EXECUTOR}.events.jsonl", f"{EXECUTOR}.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
