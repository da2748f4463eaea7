"""`trade-executor start` and `trade-executor backtest`.

With no options, `start` runs the bundled SMA crossover in paper mode on the simulated venue over
the bundled sample data, writes `state/`, and prints a summary: the README's first command.
Every option can also be set as an environment variable TRADE_EXECUTOR_<OPTION>.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradeexecutor.analysis.statistics import format_statistics
from tradeexecutor.app.session import MODES, SessionConfig, SessionResult, run_session
from tradeexecutor.cli.options import CliError, _param, add_state_options, env_default
from tradeexecutor.cli.table import render_table
from tradeexecutor.market.candles import CandleDataError
from tradeexecutor.strategy.decision import StrategyError
from tradeexecutor.strategy.loader import DEFAULT_STRATEGY, StrategyLoadError
from tradeexecutor.strategy.runner import RunSetupError


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _seconds(text: str) -> float:
    """`60`, `90s`, `5m`, `1h` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 60, 90s, 5m or 1h") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date like 2025-01-31 or 2025-01-31T12:00Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def add_run_options(parser: argparse.ArgumentParser, default_mode: str) -> None:
    def option(flag: str, help_text: str, default: str | None = None, **kwargs: object) -> None:
        name = flag.lstrip("-").replace("-", "_")
        env = f"TRADE_EXECUTOR_{name.upper()}"
        value = env_default(name, default)
        help_text = help_text.replace("%", "%%")  # argparse %-formats help strings
        parser.add_argument(flag, default=value, help=f"{help_text} (env {env})", **kwargs)  # type: ignore[arg-type]

    add_state_options(parser)
    option("--mode", f"backtest, paper or live; default {default_mode}", default_mode, choices=MODES)
    option(
        "--strategy",
        f"strategy file, or a bundled example name; default {DEFAULT_STRATEGY}",
        DEFAULT_STRATEGY,
    )
    option(
        "--data",
        "candles as CSV (Date,Open,High,Low,Close,Volume) or ccxt OHLCV JSON; default: bundled sample",
    )
    option("--pair", "the pair traded, BASE/QUOTE; default BTC/USDT", "BTC/USDT")
    option("--start", "first candle time to use (ISO date/time, UTC)", None, type=_when)
    option("--end", "last candle time to use (ISO date/time, UTC)", None, type=_when)
    option("--initial-cash", "starting cash in the quote currency; default 10000", "10000", type=_decimal)
    option("--fee", "fee rate per side, 0.001 = 0.1%; default 0.001", "0.001", type=_decimal)
    option(
        "--slippage-bps",
        "simulated slippage against market orders, in basis points; default 0",
        "0",
        type=_decimal,
    )
    option(
        "--fill-at",
        "market orders fill at the next bar's open or this bar's close",
        "next_open",
        choices=("next_open", "close"),
    )
    option("--max-cycles", "stop after this many cycles", None, type=_positive_int)
    option(
        "--cycle-duration",
        "paper/live: wait this long between cycles (60, 5m, 1h); default 0",
        "0",
        type=_seconds,
    )
    option(
        "--report",
        "write an HTML or PNG report with the equity curve and drawdown to this file",
        None,
        type=Path,
    )
    option("--exchange", "live: the exchange (ccxt id); default binance", "binance")
    option("--exchange-url", "live: override the exchange API base URL (e.g. a `trade-executor fake-exchange`)")
    option("--timeframe", "live: the candle timeframe the strategy sees; default 1m", "1m")
    option("--reconcile-every", "live: reconcile with the exchange every N cycles; default 10", "10", type=_positive_int)
    option(
        "--unknown-order-grace",
        "live: seconds an order must stay unknown by its client order id before it counts as never sent; "
        "default 15 (more than Binance's 10 s recvWindow)",
        "15",
        type=_seconds,
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="NAME=VALUE",
        help="override a strategy parameter (repeatable)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="move existing state files to a backup folder and start over"
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most every 1%."""

    def __init__(self, stream=sys.stderr) -> None:  # noqa: ANN001
        self.stream = stream
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


def _config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig(
        mode=args.mode,
        strategy=args.strategy,
        parameters=dict(args.param),
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
        pair=args.pair,
        fresh=args.fresh,
        exchange=args.exchange,
        exchange_url=args.exchange_url,
        timeframe=args.timeframe,
        reconcile_every=args.reconcile_every,
        unknown_order_grace=args.unknown_order_grace,
        # Credentials only from the environment: never on the command line (ps, shell history).
        api_key=os.environ.get("TRADE_EXECUTOR_API_KEY"),
        api_secret=os.environ.get("TRADE_EXECUTOR_API_SECRET"),
    )


def print_summary(result: SessionResult, report: Path | None) -> None:
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
        f"frozen {len(portfolio.frozen_positions)}; equity {state.total_equity():,.2f} {state.reserve_currency}"
    )
    if report is not None:
        from tradeexecutor.analysis.report import write_report

        written = write_report(
            report, state, rows, title=f"{result.paths.executor_id}: {state.uptime.runs[-1].mode}"
        )
        print(f"report written to {written}")


def run(args: argparse.Namespace) -> int:
    if args.report is not None and args.report.suffix.lower() not in (".html", ".htm", ".png"):
        raise CliError(f"--report {args.report}: the file must end in .html or .png")
    config = _config(args)
    show_progress = args.progress if args.progress is not None else sys.stderr.isatty()
    try:
        result = run_session(config, progress=ProgressBar() if show_progress else None)
    except (StrategyLoadError, CandleDataError, RunSetupError, StrategyError) as exc:
        raise CliError(str(exc)) from None
    if result.outcome.cycles_run == 0 and result.outcome.crash is None:
        print(
            f"nothing to do: the state is already past the last candle ({result.outcome.state.cycle} cycles done); "
            "use --fresh to start over"
        )
    crash = result.outcome.crash
    if crash is not None:
        print(
            f"error: the run stopped in cycle {crash.cycle} at {crash.at:%Y-%m-%d %H:%M:%S}: {crash.error}",
            file=sys.stderr,
        )
        location = _strategy_frame(crash.format(), str(result.outcome.state.uptime and config.strategy))
        if location:
            print(f"  {location}", file=sys.stderr)
        print(
            "  the full traceback is in the log (strategy_failed event); the state up to the failure is saved",
            file=sys.stderr,
        )
        print_summary(result, None)
        return 1
    print_summary(result, args.report)
    return 0


def _strategy_frame(traceback_text: str, _: str) -> str | None:
    """The last `File ..., line N` of the traceback: where in the strategy it failed."""
    lines = [line.strip() for line in traceback_text.splitlines() if line.strip().startswith("File ")]
    return lines[-1] if lines else None


LIVE_EPILOG = (
    "live mode reads the exchange API key and secret from the environment variables "
    "TRADE_EXECUTOR_API_KEY and TRADE_EXECUTOR_API_SECRET; they are never logged or written to the state"
)


def register(commands: argparse._SubParsersAction) -> None:
    start = commands.add_parser("start", help="run a strategy: paper (default), backtest or live", epilog=LIVE_EPILOG)
    add_run_options(start, "paper")
    start.set_defaults(handler=run)
    backtest = commands.add_parser("backtest", help="short for `start --mode backtest`")
    add_run_options(backtest, "backtest")
    backtest.set_defaults(handler=run)

