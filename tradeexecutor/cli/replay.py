"""`trade-executor replay`: rebuild the state from the log alone and compare it with the snapshot.

Every line is verified against the chain from the first, so this also finds damage inside the
prefix that start-up's O(1) check of the snapshot cannot see."""

from __future__ import annotations

import argparse
import hashlib
from typing import Any

import click

from tradeexecutor.cli.options import option, param_option, state_options
from tradeexecutor.state.state import SCHEMA_VERSION
from tradeexecutor.store.equity import check_file
from tradeexecutor.store.eventlog import EventLog
from tradeexecutor.store.loading import load_state, open_state
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state, hint_for, parse_state


def run(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir, args.id)
    if not paths.log.exists():
        print(f"no event log {paths.log}: nothing to replay")
        return 1
    if args.re_decide:
        return _re_decide(args, paths)
    if not paths.snapshot.exists():
        # Normal after a kill before the first snapshot: the log is the truth; start rebuilds it too.
        state = load_state(paths, use_snapshot=False)
        print(f"no snapshot: rebuilt {state.last_event_seq} events from the log {paths.log}")
        print(f"replay   sha256 {hashlib.sha256(dump_state(state)).hexdigest()}")
        return 0 if _check_equity(paths) else 1
    snapshot_bytes, seal = unseal(paths.snapshot.read_bytes())  # the state's JSON, without the seal
    parsed = parse_state(snapshot_bytes, f"snapshot {paths.snapshot}", hint_for(paths.snapshot))
    snapshot_seq = parsed.last_event_seq
    if not snapshot_bytes.startswith(b'{"schema_version":%d,' % SCHEMA_VERSION):
        # An older layout (the next start writes the current one): compared as it reads today.
        print(f"note: the snapshot is in an older layout; it is compared as migrated to schema_version {SCHEMA_VERSION}")
        snapshot_bytes = dump_state(parsed)
    del parsed
    replayed, mark = open_state(paths, use_snapshot=False, until_seq=snapshot_seq)
    replay_bytes = dump_state(replayed)
    snapshot_digest = hashlib.sha256(snapshot_bytes).hexdigest()
    replay_digest = hashlib.sha256(replay_bytes).hexdigest()
    print(f"replayed {replayed.last_event_seq} events from {paths.log}")
    print(f"snapshot sha256 {snapshot_digest}")
    print(f"replay   sha256 {replay_digest}")
    if mark is None:  # the first log format: no chain, read record by record
        log_end = load_state(paths, use_snapshot=False).last_event_seq
    else:
        log_end = EventLog.of(paths).fold(replayed, mark).seq  # the rest of the log, verified too
    if log_end > snapshot_seq:
        print(
            f"note: the log holds {log_end - snapshot_seq} events after the snapshot "
            f"(seq {snapshot_seq}); the next start replays them"
        )
    equity_ok = _check_equity(paths)
    if snapshot_digest != replay_digest:
        print("MISMATCH: the snapshot differs from the state rebuilt from the log")
        return 1
    if seal is not None and not seal.intact:
        print("MISMATCH: the snapshot's digest does not match its contents (it was changed after it was written)")
        return 1
    if seal is not None and mark is not None and mark.seq == snapshot_seq and seal.chain != mark.chain:
        print(f"MISMATCH: the snapshot's chain value differs from the log's at seq {snapshot_seq}")
        return 1
    print("match: the snapshot equals the state rebuilt from the log")
    return 0 if equity_ok else 1


def _check_equity(paths: StatePaths) -> bool:
    """Compare the equity file with the curve rebuilt from the log; False if a line differs (one
    that is merely behind is what a kill leaves, and the next start extends it)."""
    check = check_file(paths.equity, EventLog.of(paths))
    where = f"the equity file {paths.equity}"
    if check.matches:
        print(f"match: {where} holds the {check.points} points of the curve rebuilt from the log")
        return True
    if check.differs:
        print(
            f"MISMATCH: {where} differs from the curve rebuilt from the log at point {check.matching + 1} "
            f"({check.lines} lines, {check.points} points rebuilt); the next start rebuilds it"
        )
        return False
    torn = " and a torn last line" if check.torn else ""
    print(f"note: {where} holds {check.lines} of the {check.points} points{torn}; the next start extends it")
    return True


def _re_decide(args: argparse.Namespace, paths: StatePaths) -> int:
    from tradeexecutor.cli.options import CliError
    from tradeexecutor.strategy.loader import StrategyLoadError, load_strategy
    from tradeexecutor.strategy.redecide import redecide

    if not args.strategy:
        raise CliError(
            "--re-decide needs --strategy FILE (the strategy to run again over the recorded observations)"
        )
    try:
        strategy = load_strategy(args.strategy, dict(args.params))
    except StrategyLoadError as exc:
        raise CliError(str(exc)) from None
    report = redecide(paths, strategy)
    if report.mismatch is None:
        print(
            f"re-decided {report.cycles_checked} cycles with {strategy.path.name}: every decision matches the log"
        )
        return 0
    m = report.mismatch
    print(f"re-decided {report.cycles_checked} cycles; cycle {m.cycle} at {m.at:%Y-%m-%d %H:%M:%S} differs:")
    print(f"  recorded: {list(m.recorded) or 'no intents'}")
    print(f"  now:      {list(m.decided) or 'no intents'}")
    return 1


@click.command(
    "replay",
    help="Rebuild the state from the log and compare it with the snapshot (exit 1 on mismatch).",
    short_help="Rebuild the state from the log and compare it with the snapshot.",
)
@state_options
@option(
    "--re-decide",
    is_flag=True,
    help="run --strategy again over the recorded observations and compare its intents",
)
@option("--strategy", help="with --re-decide: the strategy file (or bundled strategy name)")
@param_option("with --re-decide: strategy parameter override, as given to start")
def replay_command(**options: Any) -> int:
    return run(argparse.Namespace(**options))
