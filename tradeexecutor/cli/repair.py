"""`trade-executor repair`: make a damaged or crashed state startable again, showing every change.

Two phases. First the files: a torn or corrupt log is backed up and truncated to its last good
record (`tradeexecutor.repair.log`). Then the state: stuck trades, frozen positions and orphan
exchange orders are settled with compensating events (`tradeexecutor.repair.stuck`). Each
change is printed and, without `--auto-approve`, asked for; dropping records from the middle of
the log is asked for even then, unless `--accept-data-loss` is given too.

Exit status: 0 healthy (or nothing to do), 1 something declined is still broken (and for
`--dry-run` when there is something to repair), 2 errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tradeexecutor.cli.options import CliError, add_state_options, env_default
from tradeexecutor.repair.log import LogRepairPlan, RepairError, apply_log_repair, plan_log_repair
from tradeexecutor.repair.stuck import (
    ExchangeResolver,
    RepairStep,
    StateRepairPlan,
    StepOutcome,
    apply_state_repair,
    plan_state_repair,
)
from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import StateStore, load_state

#: Set by the live-trading integration: builds the exchange's view for these options, or None.
#: With no factory (or None from it) trades are repaired offline, without exchange confirmation.
RESOLVER_FACTORY: Callable[[argparse.Namespace], ExchangeResolver | None] | None = None  # set below


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "repair",
        help="back up and repair a damaged log, settle stuck trades and frozen positions",
        description=(
            "Repair the state files of an executor that is not running: truncate a torn or corrupt "
            "event log to its last good record (after a backup), then record compensating events for "
            "stuck trades and frozen positions. Every change is shown first."
        ),
    )
    add_state_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the whole plan and change nothing")
    parser.add_argument(
        "--auto-approve", action="store_true", help="apply every change without asking (except data loss)"
    )
    parser.add_argument(
        "--accept-data-loss",
        action="store_true",
        help="allow dropping good records after damage in the middle of the log without asking",
    )
    parser.add_argument(
        "--exchange-url",
        default=env_default("exchange_url"),
        help="check stuck trades and open orders on this exchange API (e.g. a fake-exchange URL); "
        "credentials from TRADE_EXECUTOR_API_KEY/SECRET (env TRADE_EXECUTOR_EXCHANGE_URL)",
    )
    parser.add_argument("--exchange", default=env_default("exchange", "binance"), help="ccxt exchange id (binance)")
    parser.add_argument("--pair", default=env_default("pair", "BTC/USDT"), help="the pair the executor trades")
    parser.set_defaults(handler=run)


def ccxt_resolver(args: argparse.Namespace) -> ExchangeResolver | None:
    """With --exchange-url (or live credentials), settle trades by what the exchange says."""
    import os

    key, secret = os.environ.get("TRADE_EXECUTOR_API_KEY"), os.environ.get("TRADE_EXECUTOR_API_SECRET")
    if not getattr(args, "exchange_url", None) or not key or not secret:
        return None
    from tradeexecutor.execution.ccxt_venue import CcxtVenue
    from tradeexecutor.execution.exchange_client import make_exchange
    from tradeexecutor.repair.exchange_resolver import CcxtResolver

    exchange = make_exchange(args.exchange, key, secret, base_url=args.exchange_url)
    return CcxtResolver(CcxtVenue(exchange, args.pair))


def _ask(question: str) -> bool:
    """`question [y/N]` on stdout, the answer from stdin; end of input means no."""
    print(f"{question} [y/N] ", end="", flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print("(no answer: no)")
        return False
    if not sys.stdin.isatty():  # piped answers are not echoed; show them so the output reads as a log
        print(answer.strip())
    return answer.strip().lower() in ("y", "yes")


def _check_not_running(paths: StatePaths, dry_run: bool) -> None:
    """Fail early, with the lock's own message, if an executor holds the state. A dry run does
    not create the lock file just to look (it only checks an existing one)."""
    if dry_run and not paths.lock.exists():
        return
    lock = WriterLock(paths.lock)
    lock.acquire()
    lock.release()


def run(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir, args.id)
    if not paths.log.exists() and not paths.snapshot.exists():
        raise CliError(f"no state for executor {args.id!r} in {args.state_dir} (looked for {paths.log.name})")
    _check_not_running(paths, args.dry_run)
    resolver = _make_resolver(args)
    mode = " (dry run: nothing will be changed)" if args.dry_run else ""
    print(f"repair of executor {args.id!r} in {args.state_dir}{mode}")

    log_plan = plan_log_repair(paths)
    _print_log_plan(paths, log_plan)
    if args.dry_run:
        return _dry_run(paths, log_plan, resolver)
    if log_plan is not None:
        if not _confirm_log(log_plan, args):
            print("  declined: the log is left as it was; `trade-executor start` keeps refusing it")
            return 1
        result = apply_log_repair(log_plan)
        for action in result.actions:
            print(f"  done: {action}")

    store = StateStore(paths.state_dir, paths.executor_id).open()
    recorded = 0
    try:
        plan = plan_state_repair(store.state, resolver)
        numbers = {id(step): number for number, step in enumerate(plan.steps, start=1)}
        _print_state_header(plan)

        def confirm(step: RepairStep) -> bool:
            print(f"  {numbers[id(step)]}. {step.description}")
            if args.auto_approve:
                print("     apply? yes (--auto-approve)")
                return True
            return _ask("     apply?")

        def report(outcome: StepOutcome) -> None:
            if outcome.outcome.value == "skipped":
                print(f"  {numbers[id(outcome.step)]}. skipped: {outcome.message}")
            else:
                print(f"     {outcome.outcome.value}: {outcome.message}")

        outcome = apply_state_repair(store, plan, confirm, resolver, report)
        recorded = outcome.recorded
        for note in plan.notes:
            print(f"  note: {note}")
    finally:
        store.close(snapshot=recorded > 0 or not paths.snapshot.exists())

    leftover = plan_log_repair(paths)
    if leftover is not None:
        raise RepairError(f"after repair the files still do not verify: {leftover.summary()}")
    state = load_state(paths)
    print(
        f"log {paths.log.name}: {state.last_event_seq} records verified"
        + (f", {recorded} recorded by this repair" if recorded else "")
        + (f"; snapshot {paths.snapshot.name} equals the state rebuilt from the log" if paths.snapshot.exists() else "")
    )
    if outcome.unresolved:
        print("NOT fully repaired: something declined above is still broken; run repair again to finish")
        return 1
    if log_plan is None and not plan.steps:
        print("nothing to repair: the state is healthy")
    else:
        print("repaired: the state is healthy; `trade-executor start` can run")
    return 0


def _make_resolver(args: argparse.Namespace) -> ExchangeResolver | None:
    if RESOLVER_FACTORY is None:
        return None
    try:
        return RESOLVER_FACTORY(args)
    except (RepairError, CliError):
        raise
    except Exception as exc:
        raise RepairError(f"cannot reach the exchange to check trades: {type(exc).__name__}: {exc}") from None


def _print_log_plan(paths: StatePaths, plan: LogRepairPlan | None) -> None:
    if plan is None:
        print(f"\nEvent log {paths.log}: intact, and the snapshot agrees with it")
        return
    if plan.problem is not None:
        print(f"\nEvent log {paths.log}: damaged at line {plan.damaged_line} (byte {plan.damaged_offset}): {plan.problem}")
    else:
        print(f"\nEvent log {paths.log}: intact; the snapshot does not agree with it")
    for line in plan.describe():
        print(f"  {line}")


def _confirm_log(plan: LogRepairPlan, args: argparse.Namespace) -> bool:
    if plan.needs_confirmation and not args.accept_data_loss:
        print("  this loses the records after the damage (even with --auto-approve this is asked; "
              "--accept-data-loss allows it)")
        return _ask(f"  apply, losing {plan.lost_records} record(s) from line {plan.damaged_line} on?")
    if args.auto_approve:
        print("  apply? yes (--auto-approve)")
        return True
    return _ask("  apply?")


def _print_state_header(plan: StateRepairPlan) -> None:
    count = len(plan.steps)
    print(f"\nState: {count} change(s)" if count else "\nState: no stuck trades, frozen positions or orphan orders")


def _dry_run(paths: StatePaths, log_plan: LogRepairPlan | None, resolver: ExchangeResolver | None) -> int:
    """Plan the state repair on the state as the log repair would leave it; write nothing."""
    state = log_plan.state if log_plan is not None else load_state(paths)
    plan = plan_state_repair(state, resolver)
    if log_plan is not None:
        print("\n(the state below is the one the log repair leaves)")
    _print_state_header(plan)
    for number, step in enumerate(plan.steps, start=1):
        print(f"  {number}. {step.description}")
    for note in plan.notes:
        print(f"  note: {note}")
    changes = len(plan.steps) + (1 if log_plan is not None else 0)
    if not changes:
        print("\ndry run: nothing to repair, the state is healthy")
        return 0
    print(f"\ndry run: nothing was changed; {changes} change(s) would be made (run without --dry-run to apply)")
    return 1


RESOLVER_FACTORY = ccxt_resolver
