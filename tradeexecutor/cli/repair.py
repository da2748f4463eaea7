"""`trade-executor repair`: make a damaged or crashed state startable again, showing every change.

Thin: the options, the operator's terminal and the exchange are wired here; what repair does is
`tradeexecutor.repair.run.run_repair`.

Exit status: 0 healthy (or nothing to do), 1 something declined is still broken (and for
`--dry-run` when there is something to repair), 2 errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import click

from tradeexecutor.cli.options import option, state_options
from tradeexecutor.clock import wall_clock
from tradeexecutor.repair.run import RepairOptions, run_repair
from tradeexecutor.repair.stuck import ExchangeResolver
from tradeexecutor.store.paths import StatePaths


@click.command(
    "repair",
    help=(
        "Repair the state files of an executor that is not running (after a backup): drop a short "
        "run of damaged lines and keep the records after them while they still apply, or truncate "
        "the log at its last good record; CRLF line ends are rewritten as LF. Then record "
        "compensating events for stuck trades and frozen positions. Every change is shown first."
    ),
    short_help="Back up and repair a damaged log, settle stuck trades and frozen positions",
)
@state_options
@option("--dry-run", is_flag=True, help="print the whole plan and change nothing")
@option("--auto-approve", is_flag=True, help="apply every change without asking (except data loss)")
@option(
    "--accept-data-loss",
    is_flag=True,
    help="allow dropping good records after damage in the middle of the log without asking",
)
@option(
    "--exchange-url",
    help="check stuck trades and open orders on this exchange API (e.g. a fake-exchange URL); "
    "credentials from TRADE_EXECUTOR_API_KEY/SECRET",
)
@option("--exchange", default="binance", help="ccxt exchange id")
@option("--pair", default="BTC/USDT", help="the pair the executor trades")
def repair_command(**options: Any) -> int:
    return run(argparse.Namespace(**options))


def run(args: argparse.Namespace) -> int:
    healthy = run_repair(
        StatePaths(args.state_dir, args.id),
        RepairOptions(args.dry_run, args.auto_approve, args.accept_data_loss),
        ask=ask,
        say=print,
        resolver_factory=lambda: exchange_resolver(args.exchange, args.pair, args.exchange_url),
        clock=wall_clock,
    )
    return 0 if healthy else 1


def exchange_resolver(exchange_id: str, pair: str, url: str | None) -> ExchangeResolver | None:
    """With --exchange-url and the API credentials, settle trades by what the exchange says;
    without them, None: an offline repair."""
    key, secret = os.environ.get("TRADE_EXECUTOR_API_KEY"), os.environ.get("TRADE_EXECUTOR_API_SECRET")
    if not url or not key or not secret:
        return None
    from tradeexecutor.repair.exchange_resolver import connect  # needs ccxt (the `live` extra)

    return connect(exchange_id, pair, url, key, secret)


def ask(question: str) -> bool:
    """`question [y/N]` on stdout, the answer from stdin; end of input means no."""
    print(f"{question} [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print("(no answer: no)")
        return False
    if not sys.stdin.isatty():  # piped answers are not echoed; show them so the output reads as a log
        print(answer.strip())
    return answer.strip().lower() in ("y", "yes")
