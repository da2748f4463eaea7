"""The cycle runner with the simulated venue: fills, fees, expiries, refusals, crashes, resume.

Each behaviour is driven by a small strategy file written into the test's folder, over a handful of
hand-made candles, so every expected price and balance below is computed by hand.
"""

from __future__ import annotations

import math
import textwrap
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from tradeexecutor.execution.simulated import SimulatedVenue, SimulatedVenueConfig
from tradeexecutor.market.candles import Candle
from tradeexecutor.risk.limits import RiskLimits
from tradeexecutor.state.events import (
    CycleCompleted,
    Event,
    ExecutorStarted,
    FillReceived,
    IntentRefused,
    MarketObserved,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderSubmitted,
    StrategyFailed,
    TradePlanned,
)
from tradeexecutor.state.trade import OrderType, Side, Trade, TradeStatus
from tradeexecutor.state.values import utc
from tradeexecutor.store.eventlog import EventLog, encode_lines
from tradeexecutor.store.snapshot import load_snapshot
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.loader import LoadedStrategy, load_strategy
from tradeexecutor.strategy.runner import CycleRunner, RunConfig, RunOutcome
from tradeexecutor.strategy.runstate import RunState

D = Decimal
START = utc(2026, 1, 1)
HOUR = timedelta(hours=1)
EXECUTOR = "test"
E = TypeVar("E", bound=Event)

_HEADER = """\
from datetime import timedelta
from decimal import Decimal
from tradeexecutor.strategy.intents import (
    cancel, close_position, limit_buy, limit_sell, market_buy, market_sell,
)
from tradeexecutor.strategy.machine import StateMachine
"""


# --- helpers --------------------------------------------------------------------------------------


def bar(index: int, open_: str, high: str, low: str, close: str) -> Candle:
    """The hourly candle number `index` (0 opens at START)."""
    return Candle(START + index * HOUR, D(open_), D(high), D(low), D(close), D(1))


def flat(count: int, price: str = "100") -> list[Candle]:
    """`count` quiet bars around `price` (high +1, low -1)."""
    p = D(price)
    return [bar(i, str(p), str(p + 1), str(p - 1), str(p)) for i in range(count)]


def wave(count: int, period: int = 40, amplitude: int = 10) -> list[Candle]:
    """A sine wave of closes around 100; each bar opens at the previous close."""
    candles, previous = [], D(100)
    for i in range(count):
        close = (D(100) + amplitude * D(f"{math.sin(2 * math.pi * i / period):.6f}")).quantize(D("0.01"))
        low, high = min(previous, close) - D("0.5"), max(previous, close) + D("0.5")
        candles.append(Candle(START + i * HOUR, previous, high, low, close, D(1)))
        previous = close
    return candles


def strategy_file(tmp_path: Path, body: str, name: str = "strategy") -> LoadedStrategy:
    path = tmp_path / f"{name}.py"
    path.write_text(_HEADER + textwrap.dedent(body))
    return load_strategy(str(path))


def scripted(tmp_path: Path, plan: str) -> LoadedStrategy:
    """A strategy returning `PLAN[cycle]` (a dict literal of cycle number -> intents)."""
    return strategy_file(
        tmp_path, f"PLAN = {plan}\n\ndef decide(cycle):\n    return PLAN.get(cycle.cycle, [])\n"
    )


def run(
    tmp_path: Path,
    strategy: LoadedStrategy,
    candles: list[Candle],
    venue: SimulatedVenueConfig | None = None,
    risk: RiskLimits | None = None,
    max_cycles: int | None = None,
    folder: str = "state",
    run_state: RunState | None = None,
) -> RunOutcome:
    config = RunConfig(EXECUTOR, "backtest", risk=risk or RiskLimits(), max_cycles=max_cycles)
    with StateStore(tmp_path / folder, EXECUTOR, fsync_each_batch=False) as store:
        runner = CycleRunner(
            store, strategy, SimulatedVenue(venue), candles, config, run_state=run_state or RunState()
        )
        return runner.run()


def logged(tmp_path: Path, folder: str = "state") -> list[Event]:
    return [r.event for r in EventLog(tmp_path / folder / f"{EXECUTOR}.events.jsonl").records() if r.event]


def of_type(events: list[Event], kind: type[E]) -> list[E]:
    return [e for e in events if type(e) is kind]


def only_trade(outcome: RunOutcome) -> Trade:
    (trade,) = outcome.state.portfolio.trades.values()
    return trade


# --- market orders --------------------------------------------------------------------------------


def test_market_round_trip_fills_at_next_open_with_taker_fee_and_slippage_against_us(tmp_path: Path) -> None:
    candles = [
        bar(0, "100", "101", "99", "100"),
        bar(1, "102", "103", "101", "102"),
        bar(2, "104", "111", "103", "108"),
        bar(3, "110", "112", "109", "111"),
        bar(4, "111", "112", "110", "111"),
    ]
    strategy = scripted(tmp_path, "{1: [market_buy(quantity=Decimal('0.5'))], 3: [close_position()]}")
    venue = SimulatedVenueConfig(taker_fee=D("0.001"), maker_fee=D("0.0005"), slippage_bps=D(10))
    outcome = run(tmp_path, strategy, candles, venue)
    buy, sell = outcome.state.portfolio.trades.values()
    # Decided on bar 0's close, filled at bar 1's open 102 plus 10 bps: 102.102; fee 0.1% of 51.051.
    assert buy.fills[0].at == candles[1].at
    assert (buy.fills[0].price, buy.fills[0].fee) == (D("102.102"), D("0.051051"))
    # Decided on bar 2's close, filled at bar 3's open 110 minus 10 bps: 109.89; fee 0.1% of 54.945.
    assert sell.fills[0].at == candles[3].at
    assert (sell.fills[0].price, sell.fills[0].fee) == (D("109.89"), D("0.054945"))
    # 10000 - 51.051 - 0.051051 + 54.945 - 0.054945
    assert outcome.state.cash() == D("10003.788004")
    (position,) = outcome.state.portfolio.closed_positions.values()
    assert position.realised_pnl == D("3.894") and position.fees_paid == D("0.105996")
    assert not outcome.state.portfolio.open_positions
    assert outcome.state.total_equity() == D("10003.788004")


def test_market_order_with_fill_at_close_fills_at_this_bars_close(tmp_path: Path) -> None:
    candles = [bar(0, "100", "101", "98", "99"), bar(1, "105", "106", "104", "105")]
    strategy = scripted(tmp_path, "{1: [market_buy(quantity=Decimal('2'))]}")
    venue = SimulatedVenueConfig(slippage_bps=D(20), fill_at="close")
    trade = only_trade(run(tmp_path, strategy, candles, venue))
    fill = trade.fills[0]
    assert trade.status is TradeStatus.filled
    assert (fill.at, fill.price, fill.fee) == (candles[0].at, D("99.198"), D("0.198396"))  # 99 * 1.002


def test_market_order_the_cash_cannot_cover_at_the_next_open_is_cancelled_with_the_reason(
    tmp_path: Path,
) -> None:
    candles = [bar(0, "100", "101", "99", "100"), bar(1, "101", "102", "100", "101")]
    # 99.9 BTC at 100 costs 9990 + 9.99 fee: accepted; at the next open 101 it costs 10089.9 + fee.
    strategy = scripted(tmp_path, "{1: [market_buy(value=Decimal('9990'))]}")
    outcome = run(tmp_path, strategy, candles)
    trade = only_trade(outcome)
    assert trade.status is TradeStatus.cancelled
    assert trade.status_reason is not None and trade.status_reason.startswith(
        "cannot fill: insufficient USDT"
    )
    assert outcome.state.cash() == D(10000)


# --- limit orders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fill_bar", "expected_price"),
    [
        (bar(2, "97", "98", "94", "96"), D("95")),  # trades down through 95: fills at the limit
        (bar(2, "93", "94", "92", "93"), D("93")),  # gaps below 95: fills at the better open
    ],
)
def test_limit_buy_fills_only_when_a_later_bar_trades_through_at_min_of_limit_and_open(
    tmp_path: Path, fill_bar: Candle, expected_price: Decimal
) -> None:
    candles = [bar(0, "100", "101", "99", "100"), bar(1, "99", "100", "95.01", "97"), fill_bar]
    strategy = scripted(tmp_path, "{1: [limit_buy(Decimal('95'), quantity=Decimal('1'))]}")
    venue = SimulatedVenueConfig(taker_fee=D("0.002"), maker_fee=D("0.001"))
    outcome = run(tmp_path, strategy, candles, venue)
    trade = only_trade(outcome)
    (fill,) = trade.fills
    assert fill.at == fill_bar.at  # bar 1's low 95.01 did not reach the limit
    assert fill.price == expected_price
    assert fill.fee == expected_price * D("0.001")  # maker fee
    assert outcome.state.cash() == D(10000) - expected_price - fill.fee


def test_limit_buy_that_crosses_the_last_price_fills_at_once_as_taker(tmp_path: Path) -> None:
    candles = [bar(0, "100", "101", "99", "100"), bar(1, "100", "101", "99", "100")]
    strategy = scripted(tmp_path, "{1: [limit_buy(Decimal('103'), quantity=Decimal('1'))]}")
    trade = only_trade(
        run(tmp_path, strategy, candles, SimulatedVenueConfig(maker_fee=D(0), taker_fee=D("0.002")))
    )
    assert (trade.fills[0].at, trade.fills[0].price, trade.fills[0].fee) == (
        candles[0].at,
        D("100"),
        D("0.2"),
    )


def test_limit_order_expires_at_its_timeout_without_a_fill(tmp_path: Path) -> None:
    """Decided on bar 0's close (01:00), a 2 h order lives through bars 1 and 2 and expires at 03:00."""
    candles = flat(5)  # lows of 99 never reach 90
    strategy = scripted(
        tmp_path, "{1: [limit_buy(Decimal('90'), quantity=Decimal('1'), timeout=timedelta(hours=2))]}"
    )
    outcome = run(tmp_path, strategy, candles)
    trade = only_trade(outcome)
    assert trade.expires_at == candles[0].at + 2 * HOUR
    assert trade.status is TradeStatus.expired and trade.status_reason == "limit order timed out"
    (expired,) = of_type(logged(tmp_path), OrderExpired)
    assert (expired.trade_id, expired.at) == (trade.id, candles[3].at)
    assert outcome.state.cash() == D(10000)
    # The position the buy opened never held anything; with its only trade finished it is closed.
    (position,) = outcome.state.portfolio.closed_positions.values()
    assert position.quantity == 0 and position.realised_pnl == 0


@pytest.mark.parametrize(
    ("bar1_low", "bar2_low", "status"),
    [("94", "96", TradeStatus.filled), ("96", "94", TradeStatus.expired)],
    ids=["filled-in-bar-1", "bar-2-is-too-late"],
)
def test_limit_order_with_a_one_bar_timeout_lives_through_exactly_the_next_bar(
    tmp_path: Path, bar1_low: str, bar2_low: str, status: TradeStatus
) -> None:
    """Regression: cycles are stamped with the bar's open time but decide on its close, so the
    venue used to expire a one-bar order (expires_at = 00:00 + 1 h) before bar 1 could fill it."""
    candles = [
        bar(0, "100", "101", "99", "100"),
        bar(1, "99", "100", bar1_low, "97"),
        bar(2, "97", "98", bar2_low, "96"),
        bar(3, "96", "97", "95", "96"),
    ]
    strategy = scripted(
        tmp_path, "{1: [limit_buy(Decimal('95'), quantity=Decimal('1'), timeout=timedelta(hours=1))]}"
    )
    trade = only_trade(run(tmp_path, strategy, candles))
    assert trade.status is status
    assert trade.updated_at == (candles[1].at if status is TradeStatus.filled else candles[2].at)


def test_strategy_can_cancel_its_open_limit_order(tmp_path: Path) -> None:
    strategy = scripted(
        tmp_path, "{1: [limit_buy(Decimal('90'), quantity=Decimal('1'))], 2: [cancel(1)], 3: [cancel(1)]}"
    )
    outcome = run(tmp_path, strategy, flat(4))
    trade = only_trade(outcome)
    assert trade.status is TradeStatus.cancelled and trade.status_reason == "cancelled by the strategy"
    (refused,) = of_type(logged(tmp_path), IntentRefused)
    assert (refused.intent, refused.reason) == ("cancel trade=1", "trade 1 is not an open order")


# --- rejections and refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        ("{1: [market_sell(quantity=Decimal('1'))]}", "no BTC position to sell on spot BTC/USDT"),
        ("{1: [close_position()]}", "no open position with a quantity to close"),
        (
            "{1: [market_buy(quantity=Decimal('1'))], 3: [market_sell(quantity=Decimal('2'))]}",
            "position 1 holds 1, cannot sell 2",
        ),
        (
            "{1: [market_buy(value=Decimal('0.0000001'))]}",
            "the order's value is too small for one unit of the base asset",
        ),
    ],
    ids=["sell-without-position", "close-without-position", "sell-more-than-held", "dust-order"],
)
def test_intent_the_position_cannot_back_is_refused_with_the_reason(
    tmp_path: Path, plan: str, reason: str
) -> None:
    run(tmp_path, scripted(tmp_path, plan), flat(4))
    events = logged(tmp_path)
    refused = of_type(events, IntentRefused)
    assert [r.reason for r in refused] == [reason]
    planned_sells = [t for t in of_type(events, TradePlanned) if t.side is Side.sell]
    assert not planned_sells


def test_order_the_cash_cannot_pay_is_rejected_by_the_venue_with_the_reason(tmp_path: Path) -> None:
    outcome = run(tmp_path, scripted(tmp_path, "{1: [market_buy(quantity=Decimal('100'))]}"), flat(3))
    (rejected,) = of_type(logged(tmp_path), OrderRejected)
    # 100 BTC at the close of 100: 10000 plus a 10 taker fee.
    assert rejected.reason == "insufficient USDT reserve: needs 10010.00000000, has 10000"
    assert only_trade(outcome).status is TradeStatus.rejected
    assert outcome.state.cash() == D(10000)


@pytest.mark.parametrize(
    ("risk", "intent", "reason"),
    [
        (
            RiskLimits(max_position_value=D(500)),
            "market_buy(value=Decimal('600'))",
            "position value would be 600.00, above the maximum 500",
        ),
        (
            RiskLimits(min_order_value=D(50)),
            "market_buy(value=Decimal('10'))",
            "order value 10.00 is below the minimum 50",
        ),
        (
            RiskLimits(max_exposure=D("0.5")),
            "market_buy(value=Decimal('6000'))",
            "exposure would be 60.00% of equity, above the maximum 50.00%",
        ),
        (
            RiskLimits(max_slippage_bps=D(100)),
            "limit_buy(Decimal('90'), quantity=Decimal('1'))",
            "limit price 90 is 1000.0 bps from the last price, above 100",
        ),
    ],
    ids=["max-position-value", "min-order-value", "max-exposure", "max-slippage"],
)
def test_risk_limits_refuse_intents_before_anything_is_planned(
    tmp_path: Path, risk: RiskLimits, intent: str, reason: str
) -> None:
    outcome = run(tmp_path, scripted(tmp_path, f"{{1: [{intent}]}}"), flat(3), risk=risk)
    events = logged(tmp_path)
    (refused,) = of_type(events, IntentRefused)
    assert refused.reason == reason
    assert not of_type(events, TradePlanned)
    assert outcome.state.cash() == D(10000)


def test_risk_limits_let_an_order_within_them_through(tmp_path: Path) -> None:
    risk = RiskLimits(
        max_position_value=D(500), min_order_value=D(50), max_exposure=D("0.1"), max_slippage_bps=D(600)
    )
    strategy = scripted(tmp_path, "{1: [limit_buy(Decimal('95'), value=Decimal('475'))]}")
    outcome = run(tmp_path, strategy, flat(3), risk=risk)
    assert not of_type(logged(tmp_path), IntentRefused)
    assert only_trade(outcome).quantity == D(5)


def test_max_position_value_counts_open_orders(tmp_path: Path) -> None:
    """An unfilled limit buy adds nothing to the position yet; the limit must still count it."""
    plan = "{1: [limit_buy(Decimal('90'), value=Decimal('400'))], 2: [limit_buy(Decimal('90'), value=Decimal('400'))]}"
    run(tmp_path, scripted(tmp_path, plan), flat(4), risk=RiskLimits(max_position_value=D(500)))
    assert len(of_type(logged(tmp_path), TradePlanned)) == 1


def test_max_exposure_counts_open_orders(tmp_path: Path) -> None:
    plan = "{1: [limit_buy(Decimal('90'), value=Decimal('4000'))], 2: [limit_buy(Decimal('90'), value=Decimal('4000'))]}"
    run(tmp_path, scripted(tmp_path, plan), flat(4), risk=RiskLimits(max_exposure=D("0.5")))
    assert len(of_type(logged(tmp_path), TradePlanned)) == 1


# --- strategy failures ----------------------------------------------------------------------------


def test_strategy_that_raises_in_cycle_n_crashes_the_run_after_completing_the_cycles_before(
    tmp_path: Path,
) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        def decide(cycle):
            if cycle.cycle == 3:
                raise RuntimeError("boom in cycle 3")
            return []
        """,
        name="exploding",
    )
    raise_line = (
        strategy.path.read_text().splitlines().index('        raise RuntimeError("boom in cycle 3")') + 1
    )
    run_state = RunState()
    outcome = run(tmp_path, strategy, flat(6), run_state=run_state)
    assert outcome.crash is not None and outcome.cycles_run == 2
    message = "strategy exploding failed in decide at cycle 3: RuntimeError: boom in cycle 3"
    assert (outcome.crash.cycle, outcome.crash.error) == (3, message)
    assert run_state.last_crash is outcome.crash and not run_state.running
    assert isinstance(run_state.last_crash.traceback, dict) and "tb_frame" in run_state.last_crash.traceback
    text = outcome.crash.format()
    assert f'File "{strategy.path}", line {raise_line}, in decide' in text
    events = logged(tmp_path)
    assert [e.cycle for e in of_type(events, CycleCompleted)] == [1, 2]
    (failed,) = of_type(events, StrategyFailed)
    assert (failed.cycle, failed.error, failed.at) == (3, message, START + 2 * HOUR)
    assert str(strategy.path) in failed.traceback and "RuntimeError: boom in cycle 3" in failed.traceback
    assert outcome.state.cycle == 2


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("42", "decide() must return a list of intents, not int"),
        ("{'buy': 1}", "decide() must return a list of intents, not dict"),
        ("['buy']", "decide() returned 'buy', which is not an intent"),
        ("[market_buy(quantity=Decimal(1)), None]", "decide() returned None, which is not an intent"),
    ],
)
def test_strategy_returning_garbage_crashes_with_a_message_naming_it(
    tmp_path: Path, returned: str, message: str
) -> None:
    strategy = strategy_file(
        tmp_path, f"def decide(cycle):\n    return {returned} if cycle.cycle == 2 else []\n"
    )
    outcome = run(tmp_path, strategy, flat(4))
    assert outcome.crash is not None and outcome.crash.cycle == 2
    assert outcome.crash.error.startswith(f"strategy strategy failed in decide at cycle 2: {message}")
    assert not of_type(logged(tmp_path), TradePlanned)  # nothing of a bad answer is executed


@pytest.mark.parametrize("returned", ["0", "{}", "''", "False"])
def test_strategy_returning_falsy_garbage_crashes_too(tmp_path: Path, returned: str) -> None:
    strategy = strategy_file(tmp_path, f"def decide(cycle):\n    return {returned}\n")
    outcome = run(tmp_path, strategy, flat(2))
    assert outcome.crash is not None


def test_state_machine_transitions_are_recorded_and_a_stale_one_crashes_the_run(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        MACHINE = StateMachine("m", "A", {"A": ["B"], "B": ["A"]})

        def decide(cycle):
            if cycle.cycle == 1:
                return [MACHINE.go(cycle.state, "B")]
            if cycle.cycle == 3:  # two moves from the same recorded state: the second is stale
                return [MACHINE.go(cycle.state, "A"), MACHINE.go(cycle.state, "A")]
            return []
        """,
    )
    outcome = run(tmp_path, strategy, flat(5))
    assert outcome.crash is not None and outcome.crash.cycle == 3
    assert outcome.crash.error == (
        "StrategyError: state machine transition refused: machine 'm' is in state 'A', not 'B'; "
        "no intent of this cycle was carried out"
    )
    # The stale second move is found before anything of cycle 3 is carried out, so the machine
    # stays where cycle 1 put it.
    assert outcome.state.strategy_states == {"m": "B"}


def test_a_cycle_that_crashes_on_a_refused_transition_sends_none_of_its_orders(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        from tradeexecutor.strategy.intents import Transition

        def decide(cycle):
            if cycle.cycle == 2:  # a move from a state the machine is not in: refused
                return [market_buy(quantity=Decimal("1")), Transition("m", "STALE", "B")]
            return []
        """,
    )
    for _ in range(2):  # an operator restarts the crashed executor
        outcome = run(tmp_path, strategy, flat(4))
        assert outcome.crash is not None and outcome.crash.cycle == 2
        assert "state machine transition refused" in outcome.crash.error
    assert of_type(logged(tmp_path), TradePlanned) == []


# --- resume and determinism -----------------------------------------------------------------------


def _resumed_and_uninterrupted(
    tmp_path: Path, stop_after: int
) -> tuple[list[Event], list[Event], list[Candle]]:
    candles = wave(160)
    strategy = load_strategy("sma_crossover")
    run(tmp_path, strategy, candles, folder="whole")
    first = run(tmp_path, strategy, candles, max_cycles=stop_after, folder="resumed")
    assert first.cycles_run == stop_after and first.stopped_early
    second = run(tmp_path, strategy, candles, folder="resumed")  # a new store, venue and runner
    assert second.cycles_run == len(candles) - stop_after and not second.stopped_early
    assert second.state.cycle == len(candles)
    return logged(tmp_path, "whole"), logged(tmp_path, "resumed"), candles


def test_resumed_run_continues_after_the_last_cycle_and_ends_where_an_uninterrupted_run_ends(
    tmp_path: Path,
) -> None:
    whole, resumed, candles = _resumed_and_uninterrupted(tmp_path, stop_after=57)
    observed = [e.at for e in of_type(resumed, MarketObserved)]
    assert observed == [c.at for c in candles]  # each candle once, in order
    assert [e.cycle for e in of_type(resumed, CycleCompleted)] == list(range(1, len(candles) + 1))
    starts = of_type(resumed, ExecutorStarted)
    assert [s.at for s in starts] == [candles[0].at, candles[57].at]
    assert len(of_type(whole, FillReceived)) >= 4  # the comparison covers several round trips
    # The resumed log is the uninterrupted one with the second executor_started inserted, byte for
    # byte (that one event shifts the seq, and so the chain value, of every line after it).
    index = resumed.index(starts[1])
    expected = whole[:index] + [starts[1]] + whole[index:]
    log_bytes = (tmp_path / "resumed" / f"{EXECUTOR}.events.jsonl").read_bytes()
    assert log_bytes == encode_lines(expected)
    order_ids = [e.exchange_order_id for e in of_type(resumed, OrderSubmitted)]
    assert len(order_ids) == len(set(order_ids))  # a restarted venue hands out no id twice
    # The snapshots cannot be equal as a whole (uptime lists two runs, last_event_seq is one more),
    # but the money in them is: reserves, every position with its trades and fills, the equity curve.
    a, b = (load_snapshot(tmp_path / f / f"{EXECUTOR}.json") for f in ("whole", "resumed"))
    assert a is not None and b is not None
    assert a.portfolio.reserves == b.portfolio.reserves and a.cycle == b.cycle == len(candles)
    assert a.portfolio.open_positions == b.portfolio.open_positions
    assert a.portfolio.closed_positions == b.portfolio.closed_positions
    assert a.equity == b.equity
    curves = [(tmp_path / f / f"{EXECUTOR}.equity.jsonl").read_bytes() for f in ("whole", "resumed")]
    assert curves[0] == curves[1] and curves[0].count(b"\n") == a.equity.points == len(candles)
    assert (len(a.uptime.runs), len(b.uptime.runs)) == (1, 2)
    assert b.last_event_seq == a.last_event_seq + 1


def test_same_backtest_twice_writes_byte_identical_log_and_snapshot(tmp_path: Path) -> None:
    candles = wave(200, period=30)
    strategy = load_strategy("sma_crossover")
    for folder in ("a", "b"):
        run(tmp_path, strategy, candles, venue=SimulatedVenueConfig(slippage_bps=D(5)), folder=folder)
    for name in (f"{EXECUTOR}.events.jsonl", f"{EXECUTOR}.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    fills = of_type(logged(tmp_path, "a"), FillReceived)
    assert len(fills) >= 6
    assert all(e.order_type is OrderType.market for e in of_type(logged(tmp_path, "a"), TradePlanned))


def test_on_fill_hook_sees_each_filled_trade_once(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        SEEN = []

        def on_fill(cycle, trade):
            SEEN.append((cycle.cycle, trade.id, trade.status.value))
            return []

        def decide(cycle):
            return [market_buy(quantity=Decimal("1"))] if cycle.cycle in (1, 3) else []
        """,
    )
    run(tmp_path, strategy, flat(5))
    assert strategy.module.SEEN == [(2, 1, "filled"), (4, 2, "filled")]


def test_order_cancelled_event_for_trades_planned_but_never_sent_before_a_restart(tmp_path: Path) -> None:
    candles = flat(4)
    strategy = scripted(tmp_path, "{}")
    run(tmp_path, strategy, candles, max_cycles=1)
    store = StateStore(tmp_path / "state", EXECUTOR, fsync_each_batch=False).open()
    try:  # a process that died between logging a planned trade and sending it
        store.record(
            [TradePlanned(candles[0].at, 1, 1, 1, Side.buy, OrderType.market, D(1), None, "te-test-1")]
        )
    finally:
        store.close()
    outcome = run(tmp_path, strategy, candles)
    (cancelled,) = of_type(logged(tmp_path), OrderCancelled)
    assert cancelled.reason == "planned before a restart and never sent" and cancelled.at == candles[1].at
    assert only_trade(outcome).status is TradeStatus.cancelled and outcome.state.cycle == 4
