"""`trade-executor start` and `trade-executor backtest`.

With no options, `start` runs the bundled SMA crossover in paper mode on the simulated venue over
the bundled sample data, writes `state/`, and prints a summary: the README's first command.
Every option can also be set as an environment variable TRADE_EXECUTOR_<OPTION>.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import click

from tradeexecutor.analysis.formatting import format_money, format_time
from tradeexecutor.analysis.report import ReportError, RunDetails, require_matplotlib, write_report
from tradeexecutor.analysis.statistics import format_statistics
from tradeexecutor.app.session import (
    DEFAULT_DECIDE_TIMEOUT,
    DEFAULT_SNAPSHOT_EVERY,
    MODES,
    SessionConfig,
    SessionResult,
    run_session,
)
from tradeexecutor.cli.options import (
    CliError,
    DecimalRange,
    F,
    Seconds,
    When,
    check_pair,
    check_report_path,
    check_writable_folder,
    option,
    param_option,
    state_options,
)
from tradeexecutor.cli.table import render_table
from tradeexecutor.market.candles import CandleDataError
from tradeexecutor.store.equity import read_curve
from tradeexecutor.strategy.decision import StrategyError
from tradeexecutor.strategy.loader import DEFAULT_STRATEGY, StrategyLoadError, load_strategy
from tradeexecutor.strategy.runner import RunSetupError

#: The largest --initial-cash: far below where exact Decimal arithmetic (28 digits, with
#: quantities to 1e-10) would overflow in the middle of a run.
MAX_INITIAL_CASH = Decimal("1e15")


def run_options(default_mode: str) -> Callable[[F], F]:
    """The options of `start` and `backtest` (the same, but for the default --mode)."""
    decorators: list[Callable[[F], F]] = [
        state_options,
        option("--mode", type=click.Choice(MODES), default=default_mode, help="backtest, paper or live"),
        option("--strategy", default=DEFAULT_STRATEGY, help="strategy file, or a bundled strategy name"),
        option(
            "--data",
            type=click.Path(path_type=Path, dir_okay=False),
            help="candles as CSV (Date,Open,High,Low,Close,Volume) or ccxt OHLCV JSON; default: bundled sample",
        ),
        option("--pair", default="BTC/USDT", help="the pair traded, upper-case BASE/QUOTE as in ccxt"),
        option("--start", type=When(), help="first candle time to use (ISO date/time, UTC)"),
        option("--end", type=When(), help="last candle time to use (ISO date/time, UTC)"),
        option(
            "--initial-cash",
            type=DecimalRange(Decimal(0), MAX_INITIAL_CASH, low_open=True, high_text="1e15"),
            default="10000",
            help="starting cash in the quote currency (above 0, at most 1e15)",
        ),
        option(
            "--fee",
            type=DecimalRange(Decimal(0), Decimal(1), high_open=True),
            default="0.001",
            help="fee rate per side, 0.001 = 0.1% (at least 0, below 1)",
        ),
        option(
            "--slippage-bps",
            type=DecimalRange(Decimal(0), Decimal(10000), high_open=True),
            default="0",
            help="simulated slippage against market orders, in basis points (at least 0, below 10000)",
        ),
        option(
            "--fill-at",
            type=click.Choice(("next_open", "close")),
            default="next_open",
            help="market orders fill at the next bar's open or this bar's close",
        ),
        option("--max-cycles", type=click.IntRange(min=1), help="stop after this many cycles"),
        option(
            "--cycle-duration",
            type=Seconds(),
            default="0",
            help="paper/live: wait this long between cycles (60, 5m, 1h)",
        ),
        option(
            "--snapshot-every",
            type=Seconds(),
            help=f"save the snapshot at least this often while running (60, 5m; 0: only at the end); default "
            f"{DEFAULT_SNAPSHOT_EVERY:g}s in paper and live, which also save it after every cycle that moved money "
            "or orders; backtest: only at the end",
        ),
        option(
            "--decide-timeout",
            type=Seconds(),
            help=f"stop the run when decide() takes longer than this; default {DEFAULT_DECIDE_TIMEOUT:g}s "
            "in paper and live, no limit in backtest; 0 = no limit",
        ),
        option(
            "--max-intents-per-cycle",
            type=click.IntRange(min=1),
            default=100,
            help="intents beyond this many in one cycle are refused (and recorded)",
        ),
        option(
            "--report",
            type=click.Path(path_type=Path),
            help="write an HTML or PNG report with the equity curve and drawdown to this file",
        ),
        option("--exchange", default="binance", help="live: the exchange (ccxt id)"),
        option("--exchange-url", help="live: override the exchange API base URL (e.g. a `trade-executor fake-exchange`)"),
        option("--timeframe", default="1m", help="live: the candle timeframe the strategy sees"),
        option(
            "--reconcile-every",
            type=click.IntRange(min=1),
            default=10,
            help="live: reconcile with the exchange every N cycles",
        ),
        option(
            "--unknown-order-grace",
            type=Seconds(),
            default="15",
            help="live: seconds an order must stay unknown by its client order id before it counts as never "
            "sent (more than Binance's 10 s recvWindow)",
        ),
        option(
            "--max-outage",
            type=Seconds(),
            default="600",
            help="live: stop when the exchange stays unreachable this long (60, 10m, 1h; 0: never); shorter "
            "outages are recorded and ridden out",
        ),
        param_option("override a strategy parameter"),
        option("--fresh", is_flag=True, help="move existing state files to a backup folder and start over"),
        option(
            "--verify-log",
            is_flag=True,
            help="verify every line of the log and replay it whole at start-up (normally only the snapshot's "
            "line and the tail after it are read)",
        ),
        option(
            "--accept-config-change",
            is_flag=True,
            help="on resume, accept a different strategy, parameters, fees, pair or data (the change is recorded)",
        ),
        option(
            "--progress/--no-progress",
            default=None,
            help="show a progress bar (default: when stderr is a terminal)",
        ),
    ]

    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most every 1%."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        if percent == self.shown:
            return
        self.shown = percent
        filled = percent * 30 // 100
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:3d}% {done}/{total} cycles")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _decide_timeout(args: argparse.Namespace) -> float | None:
    """Seconds (0 turns the limit off), or None when not given: the session then applies the
    mode's default (60 s unless backtesting; `SessionConfig.hook_time_limit`)."""
    if args.decide_timeout is None:
        return None
    return float(args.decide_timeout)


def _data_pair(args: argparse.Namespace) -> tuple[str | None, str]:
    """The pair the data is for, when the data says (the bundled sample is BTC/USDT candles)."""
    if args.data is None:
        from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH, SAMPLE_PAIR

        return SAMPLE_PAIR, f"bundled sample ({SAMPLE_DATA_PATH.name})"
    return None, str(args.data)


def _config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig(
        mode=args.mode,
        strategy=args.strategy,
        parameters=dict(args.params),
        data=Path(args.data) if args.data else None,
        state_dir=args.state_dir,
        executor_id=args.id,
        start=args.start,
        end=args.end,
        initial_cash=args.initial_cash,
        fee=args.fee,
        slippage_bps=args.slippage_bps,
        fill_at=args.fill_at,
        max_cycles=args.max_cycles,
        cycle_duration=args.cycle_duration,
        snapshot_every=args.snapshot_every,
        pair=args.pair,
        fresh=args.fresh,
        exchange=args.exchange,
        exchange_url=args.exchange_url,
        timeframe=args.timeframe,
        reconcile_every=args.reconcile_every,
        unknown_order_grace=args.unknown_order_grace,
        max_outage=args.max_outage,
        decide_timeout=_decide_timeout(args),
        max_intents_per_cycle=args.max_intents_per_cycle,
        accept_config_change=args.accept_config_change,
        verify_log=args.verify_log,
        # Credentials only from the environment: never on the command line (ps, shell history).
        api_key=os.environ.get("TRADE_EXECUTOR_API_KEY"),
        api_secret=os.environ.get("TRADE_EXECUTOR_API_SECRET"),
    )


def print_summary(result: SessionResult, report: Path | None, details: RunDetails | None = None) -> None:
    state = result.outcome.state
    portfolio = state.portfolio
    rows = format_statistics(result.statistics)
    print(
        f"{state.uptime.runs[-1].mode if state.uptime.runs else ''} run of {result.candles} candles: "
        f"{result.outcome.cycles_run} cycles in {result.elapsed_s:.2f}s, state cycle {state.cycle}, "
        f"{state.last_event_seq} events in {result.paths.log}"
    )
    print(render_table(["statistic", "value"], rows, title="\nSummary"))
    print(
        f"\nopen positions {len(portfolio.open_positions)}, closed {len(portfolio.closed_positions)}, "
        f"frozen {len(portfolio.frozen_positions)}; equity {format_money(state.total_equity())} {state.reserve_currency}"
    )
    if report is not None:
        try:
            written = write_report(
                report, state, rows, title=f"{result.paths.executor_id}: {state.uptime.runs[-1].mode}",
                details=details, log_path=result.paths.log, curve=read_curve(result.paths.equity),
            )  # fmt: skip
        except ReportError as exc:
            raise CliError(str(exc)) from None
        print(f"report written to {written}")


def run(args: argparse.Namespace) -> int:
    check_report_path(args.report)
    if args.report is not None:
        try:
            require_matplotlib()
        except ReportError as exc:
            raise CliError(str(exc)) from None
    if args.mode != "live":
        check_pair(args.pair, *_data_pair(args))
    else:
        check_pair(args.pair, None, "")
    check_writable_folder(args.state_dir)
    config = _config(args)
    show_progress = args.progress if args.progress is not None else sys.stderr.isatty()
    try:
        result = run_session(config, progress=ProgressBar() if show_progress else None)
    except (StrategyLoadError, CandleDataError, RunSetupError, StrategyError) as exc:
        raise CliError(str(exc)) from None
    return report_outcome(result, args.report, _report_details(config) if args.report is not None else None)


#: Exit codes of `start` besides 0 (done), 1 (the strategy or the venue failed) and 2 (bad input).
EXIT_NOTHING_GOT_THROUGH = 3
EXIT_SIGNAL = {"SIGTERM": 143, "SIGINT": 130}


def report_outcome(result: SessionResult, report: Path | None, details: RunDetails | None = None) -> int:
    """Print how the run ended and return the exit code."""
    outcome = result.outcome
    if outcome.nothing_to_do:
        print(
            f"nothing to do: the state is already past the last candle ({outcome.state.cycle} cycles done); "
            "use --fresh to start over"
        )
    crash = outcome.crash
    if crash is not None:
        if crash.by_strategy:
            print(f"error: {crash.error}", file=sys.stderr)
        else:
            print(
                f"error: the run stopped in cycle {crash.cycle} at {format_time(crash.at, seconds=True)}: {crash.error}",
                file=sys.stderr,
            )
        location = _strategy_frame(crash.format())
        if location:
            print(f"  {location}", file=sys.stderr)
        print(
            "  the full traceback is in the log (strategy_failed event); the state up to the failure is saved",
            file=sys.stderr,
        )
        print_summary(result, None)
        print_refusals(result)
        return 1
    print_summary(result, report, details)
    print_refusals(result)
    if outcome.stopped_by is not None:
        print(f"stopped by {outcome.stopped_by} at cycle {outcome.state.cycle}; state saved", file=sys.stderr)
        return EXIT_SIGNAL.get(outcome.stopped_by, 1)
    if outcome.nothing_got_through:
        print(
            f"warning: nothing got through in this run: {_refusal_counts(result)}, no order was carried out "
            f"(exit code {EXIT_NOTHING_GOT_THROUGH}); the reasons are listed above",
            file=sys.stderr,
        )
        return EXIT_NOTHING_GOT_THROUGH
    return 0


def _refusal_counts(result: SessionResult) -> str:
    outcome = result.outcome
    return f"{outcome.refused_intents} intents refused, {outcome.rejected_orders} orders rejected"


def print_refusals(result: SessionResult, first: int = 5) -> None:
    """The run's refused intents and rejected orders: the count and the most frequent reasons."""
    reasons = result.outcome.refusals
    if not reasons:
        return
    print(f"\nrefused or rejected in this run: {_refusal_counts(result)}")
    for reason, count in reasons[:first]:
        print(f"  {count} x {reason}")
    if len(reasons) > first:
        print(f"  ... and {len(reasons) - first} more reasons (trade-executor show lists the last ones)")


def _report_details(config: SessionConfig) -> RunDetails:
    """What the report says about the run: the strategy with its effective parameters, data, fees."""
    strategy = load_strategy(config.strategy, config.parameters)
    return RunDetails(
        strategy=strategy.name, parameters=dict(strategy.parameters),
        data_file=str(config.data) if config.data else "the bundled sample data", fee=config.fee,
        slippage_bps=config.slippage_bps, pair=config.pair, mode=config.mode,
    )  # fmt: skip


def _strategy_frame(traceback_text: str) -> str | None:
    """The last `File ..., line N` of the traceback outside the runner's own modules: where in
    the strategy it failed (not the read-only view or the time limit that stopped it)."""
    lines = [line.strip() for line in traceback_text.splitlines() if line.strip().startswith("File ")]
    own = f"{os.sep}tradeexecutor{os.sep}strategy{os.sep}"
    outside = [line for line in lines if own not in line]
    return (outside or lines)[-1] if lines else None


LIVE_EPILOG = (
    "live mode reads the exchange API key and secret from the environment variables "
    "TRADE_EXECUTOR_API_KEY and TRADE_EXECUTOR_API_SECRET; they are never logged or written to the state"
)


def _command(name: str, default_mode: str, help_text: str, epilog: str | None = None) -> click.Command:
    @click.command(name, help=help_text, epilog=epilog)
    @run_options(default_mode)
    def command(**options: Any) -> int:
        return run(argparse.Namespace(**options))

    return command


start_command = _command(
    "start", "paper", "Run a strategy: paper (default), backtest or live.", epilog=LIVE_EPILOG
)
backtest_command = _command("backtest", "backtest", "Short for `start --mode backtest`.")
