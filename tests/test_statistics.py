"""Tests for performance statistics against hand-computed values, numpy and backtesting.py."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import backtesting
import numpy as np
import pandas as pd
import pytest

from tradeexecutor.analysis.statistics import (
    ClosedTrade,
    OpenTrade,
    Statistics,
    compute_statistics,
    format_statistics,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _curve(values: list[str], step: timedelta = DAY) -> list[tuple[datetime, Decimal]]:
    return [(T0 + i * step, Decimal(v)) for i, v in enumerate(values)]


def _json_safe(stats: Statistics) -> None:
    """Statistics end up in JSON read by JavaScript: NaN/Infinity must never appear."""
    json.dumps(stats.to_json_dict(), allow_nan=False)


# Peak 110 -> trough 99 (-10 %) recovers at day 4 (3 days); peak 121 -> 96.8 (-20 %) recovers at day 6 (2 days).
CURVE = _curve(["100", "110", "99", "104.5", "121", "96.8", "130"])

TRADES = [
    ClosedTrade(T0, T0 + 2 * DAY, Decimal("10"), Decimal("1"), Decimal("100")),
    ClosedTrade(T0 + DAY, T0 + 3 * DAY, Decimal("-5"), Decimal("0.5"), Decimal("50")),
    ClosedTrade(T0 + 4 * DAY, T0 + 5 * DAY, Decimal("20"), Decimal("1"), Decimal("200")),
    ClosedTrade(T0 + 5.5 * DAY, T0 + 7 * DAY, Decimal("-2.5"), Decimal("0.25"), Decimal("100")),
]


def test_hand_computed_curve() -> None:
    stats = compute_statistics(CURVE, TRADES)
    assert stats.total_return == pytest.approx(0.3)
    assert stats.max_drawdown == pytest.approx(0.2)
    assert stats.max_drawdown_duration == 3 * DAY  # longest, not deepest, drawdown
    assert stats.start == T0 and stats.end == T0 + 6 * DAY
    assert stats.initial_equity == Decimal("100") and stats.final_equity == Decimal("130")
    assert stats.periods_per_year == pytest.approx(365)
    assert stats.cagr == pytest.approx(1.3 ** (365 / 6) - 1)


def test_trade_statistics() -> None:
    stats = compute_statistics(CURVE, TRADES)
    assert stats.number_of_trades == 4
    assert stats.win_rate == 0.5
    assert stats.profit_factor == pytest.approx(30 / 7.5)
    assert stats.average_trade == Decimal("5.625")
    assert stats.average_trade_return == pytest.approx((0.1 - 0.1 + 0.1 - 0.025) / 4)
    assert stats.fees_paid == Decimal("2.75")
    # [d0, d3] U [d4, d5] U [d5.5, d6 (clipped from d7)] = 4.5 of 6 days
    assert stats.exposure_time == pytest.approx(0.75)


def test_sharpe_sortino_and_volatility_match_numpy() -> None:
    equity = np.array([float(v) for _, v in CURVE])
    r = np.diff(equity) / equity[:-1]
    stats = compute_statistics(CURVE, [])
    assert stats.annualised_volatility == pytest.approx(r.std(ddof=1) * np.sqrt(365))
    assert stats.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(365))
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert stats.sortino == pytest.approx(r.mean() / downside * np.sqrt(365))

    rf = 0.04
    rf_period = (1 + rf) ** (1 / 365) - 1
    with_rf = compute_statistics(CURVE, [], risk_free_rate=rf)
    assert with_rf.sharpe == pytest.approx((r - rf_period).mean() / r.std(ddof=1) * np.sqrt(365))


def test_periods_per_year_from_spacing_and_explicit() -> None:
    hourly = _curve(["100", "101", "100.5", "102", "101"], step=timedelta(hours=1))
    r = np.diff([100, 101, 100.5, 102, 101]) / np.array([100, 101, 100.5, 102])
    inferred = compute_statistics(hourly, [])
    assert inferred.periods_per_year == pytest.approx(8760)
    assert inferred.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(8760))
    explicit = compute_statistics(hourly, [], periods_per_year=252)
    assert explicit.periods_per_year == 252
    assert explicit.annualised_volatility == pytest.approx(r.std(ddof=1) * np.sqrt(252))


def test_cagr_known_values() -> None:
    one_year = [(T0, Decimal("100")), (T0 + 365 * DAY, Decimal("121"))]
    assert compute_statistics(one_year, []).cagr == pytest.approx(0.21)
    two_years = [(T0, Decimal("100")), (T0 + 730 * DAY, Decimal("121"))]
    assert compute_statistics(two_years, []).cagr == pytest.approx(0.1)
    wiped_out = [(T0, Decimal("100")), (T0 + DAY, Decimal("0"))]
    assert compute_statistics(wiped_out, []).cagr == -1.0


def test_unrecovered_drawdown_runs_to_the_end() -> None:
    stats = compute_statistics(_curve(["100", "120", "90", "100"]), [])
    assert stats.max_drawdown == pytest.approx(0.25)
    assert stats.max_drawdown_duration == 2 * DAY


def test_buy_and_hold() -> None:
    prices = _curve(["50", "55", "40", "60"])
    assert compute_statistics(CURVE, [], benchmark_prices=prices).buy_and_hold_return == pytest.approx(0.2)
    assert compute_statistics(CURVE, []).buy_and_hold_return is None
    assert compute_statistics(CURVE, [], benchmark_prices=[]).buy_and_hold_return is None


# --------------------------------------------------------------------------- edge cases


def test_empty_curve() -> None:
    stats = compute_statistics([], [])
    assert stats.total_return == 0.0
    assert stats.start is None and stats.final_equity is None
    assert stats.cagr is None and stats.sharpe is None and stats.exposure_time is None
    assert stats.max_drawdown == 0.0 and stats.max_drawdown_duration == timedelta(0)
    assert stats.win_rate is None and stats.number_of_trades == 0 and stats.fees_paid == Decimal(0)
    _json_safe(stats)
    assert dict(format_statistics(stats))["Total return"] == "0.00%"


def test_single_point() -> None:
    stats = compute_statistics(_curve(["1000"]), [])
    assert stats.total_return == 0.0
    assert stats.cagr is None and stats.annualised_volatility is None
    assert stats.sharpe is None and stats.sortino is None and stats.periods_per_year is None
    _json_safe(stats)


def test_flat_and_constant_growth_curves_have_no_sharpe() -> None:
    flat = compute_statistics(_curve(["100"] * 10), [])
    assert flat.annualised_volatility == 0.0 and flat.sharpe is None and flat.sortino is None
    assert flat.max_drawdown == 0.0
    growth = compute_statistics(_curve([str(Decimal(100) * Decimal("1.01") ** i) for i in range(10)]), [])
    assert growth.annualised_volatility == 0.0 and growth.sharpe is None
    assert growth.sortino is None  # no downside at all
    _json_safe(flat)
    _json_safe(growth)


def test_no_losing_trades_and_no_trades() -> None:
    winners = [ClosedTrade(T0, T0 + DAY, Decimal("5"), Decimal("0.1"), Decimal("100"))]
    stats = compute_statistics(CURVE, winners)
    assert stats.win_rate == 1.0 and stats.profit_factor is None
    assert dict(format_statistics(stats))["Profit factor"] == "n/a (no losing trades)"
    none = compute_statistics(CURVE, [])
    assert none.win_rate is None and none.profit_factor is None and none.average_trade is None
    assert none.exposure_time == 0.0
    assert dict(format_statistics(none))["Win rate"] == "n/a"
    _json_safe(stats)


def test_huge_short_term_return_does_not_overflow() -> None:
    curve = [(T0, Decimal("100")), (T0 + timedelta(seconds=1), Decimal("200"))]
    stats = compute_statistics(curve, [])
    assert stats.cagr is None
    assert stats.total_return == 1.0
    _json_safe(stats)


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ([(datetime(2025, 1, 1), Decimal(1))], "naive"),
        ([(T0 + DAY, Decimal(1)), (T0, Decimal(2))], "must not go back"),
        ([(T0, Decimal("NaN"))], "finite"),
    ],
)
def test_invalid_curves_are_rejected(curve: list[tuple[datetime, Decimal]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_statistics(curve, [])


def test_equal_consecutive_timestamps_keep_the_last_value() -> None:
    """A restart that ran one candle twice left two points at one time: the later one counts."""
    doubled = [CURVE[0], CURVE[1], (CURVE[1][0], Decimal("105")), *CURVE[2:]]
    stats = compute_statistics(doubled, TRADES)
    expected = compute_statistics([CURVE[0], (CURVE[1][0], Decimal("105")), *CURVE[2:]], TRADES)
    assert stats == expected
    assert stats.periods_per_year == pytest.approx(365)  # six steps of a day, not seven
    prices = [(T0, Decimal("50")), (T0, Decimal("40")), (T0 + DAY, Decimal("60"))]
    assert compute_statistics(CURVE, [], benchmark_prices=prices).buy_and_hold_return == pytest.approx(0.5)


def test_open_trades_count_in_fills_fees_and_exposure_but_not_in_round_trips() -> None:
    closed = [ClosedTrade(T0, T0 + 2 * DAY, Decimal("10"), Decimal("1.5"), Decimal("100"), fills=2)]
    still_open = [OpenTrade(T0 + 3 * DAY, Decimal("-4"), Decimal("0.75"), Decimal("250"), fills=3)]
    stats = compute_statistics(CURVE, closed, open_trades=still_open, other_fees=Decimal("0.25"))
    assert stats.number_of_trades == 1
    assert stats.open_positions == 1
    assert stats.number_of_fills == 5
    assert stats.fees_paid == Decimal("2.50")
    assert stats.open_pnl == Decimal("-4") and stats.open_exposure == Decimal("250")
    # Days 0-2 closed, 3-6 still open at the end of the curve: 5 of 6 days.
    assert stats.exposure_time == pytest.approx(5 / 6)
    assert stats.win_rate == 1.0  # over round trips only
    table = dict(format_statistics(stats))
    assert table["Trades (closed round trips)"] == "1"
    assert table["Open positions"] == "1"
    assert table["Fills"] == "5"
    assert table["Fees paid"] == "2.50"
    assert table["Open exposure"] == "250.00" and table["Open PnL"] == "-4.00"
    assert "Dust written off" not in table
    dusty = compute_statistics(CURVE, closed, dust_value=Decimal("3.084"))
    assert dict(format_statistics(dusty))["Dust written off"] == "3.08"
    _json_safe(stats)


def test_format_statistics_rows() -> None:
    stats = compute_statistics(CURVE, TRADES, benchmark_prices=_curve(["50", "60"]))
    rows = format_statistics(stats)
    assert all(isinstance(label, str) and isinstance(value, str) for label, value in rows)
    table = dict(rows)
    assert table["Total return"] == "30.00%"
    assert table["Max drawdown"] == "20.00%"
    assert table["Max drawdown duration"] == "3d 00h 00m"
    assert table["Win rate"] == "50.00%"
    assert table["Profit factor"] == "4.00"
    assert table["Average trade"] == "5.62"  # Decimal half-even rounding of 5.625
    assert table["Fees paid"] == "2.75"
    assert table["Buy & hold return"] == "20.00%"
    assert table["Exposure time"] == "75.00%"
    assert table["Initial equity"] == "100.00"
    assert table["Start"] == "2025-01-01 00:00 UTC"
    assert table["Duration"] == "6d 00h 00m"


# --------------------------------------------------------------------------- cross-check with backtesting.py


def _run_backtesting() -> tuple[pd.DataFrame, pd.Series, int]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values: np.ndarray, n: int) -> pd.Series:
        return pd.Series(values).rolling(n).mean()

    class SmaCross(Strategy):
        n1 = 10
        n2 = 30

        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, self.n1)
            self.slow = self.I(sma, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    data = pd.read_csv(Path(backtesting.__file__).parent / "test" / "GOOG.csv", index_col=0, parse_dates=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(data, SmaCross, cash=100_000, commission=0.002, finalize_trades=True).run()
    return data, stats, SmaCross.n2 - 1


def _utc(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime().replace(tzinfo=UTC)


def test_cross_check_with_backtesting_py() -> None:
    data, bt, warmup = _run_backtesting()
    equity = bt["_equity_curve"]["Equity"]
    curve = [(_utc(ts), Decimal(repr(float(v)))) for ts, v in equity.items()]
    trades = [
        ClosedTrade(
            opened_at=_utc(row.EntryTime),
            closed_at=_utc(row.ExitTime),
            pnl=Decimal(repr(float(row.PnL))),
            fees=Decimal(repr(float(row.Commission))),
            entry_value=Decimal(repr(float(abs(row.Size) * row.EntryPrice))),
        )
        for row in bt["_trades"].itertuples()
    ]
    closes = data["Close"].iloc[warmup:]
    benchmark = [(_utc(ts), Decimal(repr(float(v)))) for ts, v in closes.items()]

    stats = compute_statistics(curve, trades, benchmark_prices=benchmark)

    assert bt["# Trades"] == stats.number_of_trades > 10
    assert stats.total_return * 100 == pytest.approx(bt["Return [%]"], rel=1e-9)
    assert -stats.max_drawdown * 100 == pytest.approx(bt["Max. Drawdown [%]"], rel=1e-9)
    assert stats.max_drawdown_duration == bt["Max. Drawdown Duration"].to_pytimedelta()
    assert stats.win_rate is not None
    assert stats.win_rate * 100 == pytest.approx(bt["Win Rate [%]"], rel=1e-12)
    assert stats.buy_and_hold_return is not None
    assert stats.buy_and_hold_return * 100 == pytest.approx(bt["Buy & Hold Return [%]"], rel=1e-9)
    assert stats.fees_paid == pytest.approx(Decimal(repr(float(bt["Commissions [$]"]))), rel=Decimal("1e-9"))
    # backtesting.py counts exposure in bars, we count it in time; on daily bars they agree closely.
    assert stats.exposure_time is not None
    assert stats.exposure_time * 100 == pytest.approx(bt["Exposure Time [%]"], abs=3)
    # CAGR: backtesting.py uses 365.25-day years, we use 365: (1 + ours) ** (365.25 / 365) == 1 + theirs.
    assert stats.cagr is not None
    assert (1 + stats.cagr) ** (365.25 / 365) - 1 == pytest.approx(bt["CAGR [%]"] / 100, rel=1e-9)
    _json_safe(stats)


# --------------------------------------------------------------------------- a state with two cycles at one time


def test_a_state_with_two_cycles_at_the_same_time_loads_shows_statistics_and_trades(tmp_path: Path) -> None:
    """A restart that ran the same candle twice left two valuations at one timestamp; every later
    start used to fail with `equity_curve[1]: timestamps must be strictly increasing`."""
    from tradeexecutor.analysis.performance import statistics_from_state
    from tradeexecutor.execution.simulated import SimulatedVenue
    from tradeexecutor.market.candles import Candle
    from tradeexecutor.state.events import CycleCompleted, MarketObserved
    from tradeexecutor.state.trade import Side
    from tradeexecutor.store.equity import read_curve
    from tradeexecutor.store.paths import StatePaths
    from tradeexecutor.store.state_store import StateStore, load_state
    from tradeexecutor.strategy.loader import load_strategy
    from tradeexecutor.strategy.runner import CycleRunner, RunConfig
    from tradeexecutor.strategy.runstate import RunState
    from tradeexecutor.testing.scenario import Scenario

    scenario = Scenario(start=T0, executor_id="twice", step=timedelta(hours=1))
    events = [*scenario.setup(cash=Decimal("10000")), *scenario.cycle_end(Decimal("100"))]
    events += scenario.trade(Side.buy, Decimal("1"), Decimal("100"))
    events += scenario.cycle_end(Decimal("101"))
    at = scenario.now
    events += [MarketObserved(at, 1, *[Decimal("102")] * 4, Decimal(1)), CycleCompleted(at, scenario.cycle + 1)]
    with StateStore(tmp_path, "twice", fsync_each_batch=False) as store:
        store.record(events)
    state = load_state(StatePaths(tmp_path, "twice"))
    curve = read_curve(StatePaths(tmp_path, "twice").equity)
    assert curve[-1][0] == curve[-2][0] and state.equity.points == len(curve)
    stats = statistics_from_state(state, curve)
    assert stats.final_equity == Decimal("9900") + Decimal("102") - Decimal("0.1")
    assert dict(format_statistics(stats))["Open positions"] == "1"

    (tmp_path / "sell.py").write_text(
        "from tradeexecutor.strategy.intents import close_position\n"
        "def decide(cycle):\n    return [close_position()] if cycle.holding() else []\n"
    )
    candles = [
        Candle(at + i * timedelta(hours=1), Decimal("103"), Decimal("104"), Decimal("102"), Decimal("103"), Decimal(1))
        for i in range(3)
    ]
    with StateStore(tmp_path, "twice", fsync_each_batch=False) as store:
        runner = CycleRunner(
            store, load_strategy(str(tmp_path / "sell.py")), SimulatedVenue(), candles,
            RunConfig("twice", "paper"), run_state=RunState(),
        )  # fmt: skip
        outcome = runner.run()
    assert outcome.crash is None and outcome.cycles_run == 2  # the candle at `at` was done already
    assert not outcome.state.portfolio.open_positions
    after = statistics_from_state(outcome.state, read_curve(StatePaths(tmp_path, "twice").equity))
    assert after.number_of_trades == 1 and after.number_of_fills == 2


def test_a_backtest_counts_every_fee_in_its_log_open_position_included(tmp_path: Path) -> None:
    """The bundled backtest ends holding a position: its buy fee used to be left out (883.32 of 890.46)."""
    from tradeexecutor.app.session import SessionConfig, run_session
    from tradeexecutor.state.events import FillReceived
    from tradeexecutor.store.eventlog import EventLog

    result = run_session(SessionConfig(mode="backtest", state_dir=tmp_path))
    fills = [r.event for r in EventLog(result.paths.log).records() if isinstance(r.event, FillReceived)]
    state = result.outcome.state
    assert state.portfolio.open_positions  # the case that was miscounted
    assert result.statistics.fees_paid == sum((f.fee for f in fills), Decimal(0))
    assert result.statistics.number_of_fills == len(fills)
    assert result.statistics.number_of_trades == len(state.portfolio.closed_positions)
    table = dict(format_statistics(result.statistics))
    assert table["Fees paid"] == "890.46"
    assert table["Fills"] == str(len(fills)) == "111"
