"""One repair of an executor's files, start to end: what `trade-executor repair` runs.

Two phases. First the files: a torn or corrupt log is backed up and truncated to its last good
record, or, when the damage is a short run of lines and the records after it still apply, rewritten
without the damaged lines (`repair.log`, `repair.salvage`). Then the state: stuck trades, frozen positions and orphan exchange orders
are settled with compensating events (`repair.stuck`). Each change is said and, without
`auto_approve`, asked for; dropping records from the middle of the log is asked for even then,
unless `accept_data_loss` is set too.

Everything from outside comes in as an argument: the exchange (`resolver_factory`, None for an
offline repair), the time (`clock`), the operator's answers (`ask`) and where the text goes
(`say`). The command line passes the real ones; tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tradeexecutor.clock import wall_clock
from tradeexecutor.repair.log import LogRepairPlan, RepairError, apply_log_repair, plan_log_repair
from tradeexecutor.repair.stuck import (
    ExchangeResolver,
    Outcome,
    RepairStep,
    StateRepairOutcome,
    StateRepairPlan,
    StepOutcome,
    apply_state_repair,
    plan_state_repair,
    write_problem,
)
from tradeexecutor.state.clock import Clock
from tradeexecutor.store.errors import StoreError
from tradeexecutor.store.lock import WriterLock
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import StateStore, load_state

#: Builds the exchange's view when repair needs it (after the state is found and not locked);
#: None from it means an offline repair.
ResolverFactory = Callable[[], ExchangeResolver | None]
#: Asks the operator a yes/no question; True for yes.
Ask = Callable[[str], bool]
#: Shows the operator one line of text.
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RepairOptions:
    dry_run: bool = False
    auto_approve: bool = False
    accept_data_loss: bool = False


def run_repair(
    paths: StatePaths,
    options: RepairOptions,
    ask: Ask,
    say: Say = print,
    resolver_factory: ResolverFactory | None = None,
    clock: Clock = wall_clock,
) -> bool:
    """Repair the files and state at `paths`, saying every change and asking before each.

    True when the state is healthy at the end; False when something declined is still broken
    (and, for a dry run, when there is something to repair). Errors raise `RepairError` (or the
    store's own errors), each one line.
    """
    if not paths.log.exists() and not paths.snapshot.exists():
        raise RepairError(
            f"no state for executor {paths.executor_id!r} in {paths.state_dir} (looked for {paths.log.name})"
        )
    _check_not_running(paths, options.dry_run)
    resolver = _make_resolver(resolver_factory)
    mode = " (dry run: nothing will be changed)" if options.dry_run else ""
    say(f"repair of executor {paths.executor_id!r} in {paths.state_dir}{mode}")

    log_plan = plan_log_repair(paths)
    _say_log_plan(say, paths, log_plan)
    if options.dry_run:
        return _dry_run(say, paths, log_plan, resolver, clock)
    if log_plan is not None:
        if not _confirm_log(ask, say, log_plan, options):
            say("  declined: the log is left as it was; `trade-executor start` keeps refusing it")
            return False
        for action in apply_log_repair(log_plan, clock=clock).actions:
            say(f"  done: {action}")

    plan, outcome = _repair_state(paths, options, ask, say, resolver, clock)
    leftover = plan_log_repair(paths)
    if leftover is not None:
        raise RepairError(f"after repair the files still do not verify: {leftover.summary()}")
    state = load_state(paths)
    recorded = outcome.recorded
    say(
        f"log {paths.log.name}: {state.last_event_seq} records verified"
        + (f", {recorded} recorded by this repair" if recorded else "")
        + (f"; snapshot {paths.snapshot.name} equals the state rebuilt from the log" if paths.snapshot.exists() else "")
    )
    if outcome.unresolved:
        say("NOT fully repaired: something declined above is still broken; run repair again to finish")
        return False
    if log_plan is None and not plan.steps:
        say("nothing to repair: the state is healthy")
    else:
        say("repaired: the state is healthy; `trade-executor start` can run")
    return True


def _repair_state(
    paths: StatePaths,
    options: RepairOptions,
    ask: Ask,
    say: Say,
    resolver: ExchangeResolver | None,
    clock: Clock,
) -> tuple[StateRepairPlan, StateRepairOutcome]:
    """Plan the state repair on the (now intact) log, ask step by step, record the approved ones.

    The snapshot is written only when the repair went through: after a failed append the state in
    memory may hold events the log does not, and a snapshot of it would be ahead of the log.
    """
    store = StateStore(paths.state_dir, paths.executor_id).open()
    try:
        plan = plan_state_repair(store.state, resolver, clock)
        numbers = {id(step): number for number, step in enumerate(plan.steps, start=1)}
        _say_state_header(say, plan)

        def confirm(step: RepairStep) -> bool:
            say(f"  {numbers[id(step)]}. {step.description}")
            if options.auto_approve:
                say("     apply? yes (--auto-approve)")
                return True
            return ask("     apply?")

        def report(outcome: StepOutcome) -> None:
            if outcome.outcome is Outcome.skipped:
                say(f"  {numbers[id(outcome.step)]}. skipped: {outcome.message}")
            else:
                say(f"     {outcome.outcome.value}: {outcome.message}")

        outcome = apply_state_repair(store, plan, confirm, resolver, report)
        for note in plan.notes:
            say(f"  note: {note}")
    except BaseException:
        store.close(snapshot=False)  # writes nothing, releases the lock
        raise
    try:
        store.close(snapshot=outcome.recorded > 0 or not paths.snapshot.exists())
    except (OSError, StoreError) as exc:
        raise RepairError(
            f"the repair is recorded in {paths.log.name}, but the snapshot {paths.snapshot.name} could "
            f"not be written: {write_problem(exc)}; `trade-executor start` rebuilds it from the log"
        ) from None
    return plan, outcome


def _check_not_running(paths: StatePaths, dry_run: bool) -> None:
    """Fail early, with the lock's own message, if an executor holds the state. A dry run does
    not create the lock file just to look (it only checks an existing one)."""
    if dry_run and not paths.lock.exists():
        return
    lock = WriterLock(paths.lock)
    lock.acquire()
    lock.release()


def _make_resolver(factory: ResolverFactory | None) -> ExchangeResolver | None:
    if factory is None:
        return None
    try:
        return factory()
    except RepairError:
        raise
    except Exception as exc:
        raise RepairError(f"cannot reach the exchange to check trades: {type(exc).__name__}: {exc}") from None


def _say_log_plan(say: Say, paths: StatePaths, plan: LogRepairPlan | None) -> None:
    if plan is None:
        say(f"\nEvent log {paths.log}: intact, and the snapshot agrees with it")
        return
    if plan.problem is not None:
        say(f"\nEvent log {paths.log}: damaged at line {plan.damaged_line} (byte {plan.damaged_offset}): {plan.problem}")
    else:
        say(f"\nEvent log {paths.log}: intact; the snapshot does not agree with it")
    for line in plan.describe():
        say(f"  {line}")


def _confirm_log(ask: Ask, say: Say, plan: LogRepairPlan, options: RepairOptions) -> bool:
    if plan.needs_confirmation and not options.accept_data_loss:
        say(
            "  this loses the records after the damage (even with --auto-approve this is asked; "
            "--accept-data-loss allows it)"
        )
        if plan.salvage is not None:
            return ask(f"  apply the salvage, losing {plan.lost_records} record(s) that pass their checksum?")
        return ask(f"  apply, losing {plan.lost_records} record(s) from line {plan.damaged_line} on?")
    if options.auto_approve:
        say("  apply? yes (--auto-approve)")
        return True
    return ask("  apply?")


def _say_state_header(say: Say, plan: StateRepairPlan) -> None:
    count = len(plan.steps)
    say(f"\nState: {count} change(s)" if count else "\nState: no stuck trades, frozen positions or orphan orders")


def _dry_run(
    say: Say, paths: StatePaths, log_plan: LogRepairPlan | None, resolver: ExchangeResolver | None, clock: Clock
) -> bool:
    """Plan the state repair on the state as the log repair would leave it; write nothing."""
    state = log_plan.state if log_plan is not None else load_state(paths)
    plan = plan_state_repair(state, resolver, clock)
    if log_plan is not None:
        say("\n(the state below is the one the log repair leaves)")
    _say_state_header(say, plan)
    for number, step in enumerate(plan.steps, start=1):
        say(f"  {number}. {step.description}")
    for note in plan.notes:
        say(f"  note: {note}")
    changes = len(plan.steps) + (1 if log_plan is not None else 0)
    if not changes:
        say("\ndry run: nothing to repair, the state is healthy")
        return True
    say(f"\ndry run: nothing was changed; {changes} change(s) would be made (run without --dry-run to apply)")
    return False
