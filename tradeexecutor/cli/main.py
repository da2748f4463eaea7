"""`trade-executor`: the command line. Thin: parse, wire, call.

User mistakes and damaged files end in a one-line `error: ...` and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tradeexecutor import __version__
from tradeexecutor.cli.options import CliError, _param, add_state_options
from tradeexecutor.state.errors import InvalidEvent, SerialisationError
from tradeexecutor.store.errors import StoreError


def _version(_: argparse.Namespace) -> int:
    print(f"tradeexecutor {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trade-executor",
        description="Event-sourced trade executor: backtest and live crypto trading with an auditable log.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)

    from tradeexecutor.cli import replay, show

    show_parser = commands.add_parser("show", help="show reserves, positions and recent trades")
    add_state_options(show_parser)
    show_parser.add_argument("--trades", type=int, default=10, help="how many recent trades to list")
    show_parser.add_argument("--closed", type=int, default=10, help="how many closed positions to list")
    show_parser.set_defaults(handler=show.run)

    replay_parser = commands.add_parser(
        "replay", help="rebuild the state from the log and compare it with the snapshot (exit 1 on mismatch)"
    )
    add_state_options(replay_parser)
    replay_parser.add_argument(
        "--re-decide",
        action="store_true",
        help="run --strategy again over the recorded observations and compare its intents",
    )
    replay_parser.add_argument(
        "--strategy", help="with --re-decide: the strategy file (or bundled example name)"
    )
    replay_parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=_param,
        metavar="NAME=VALUE",
        help="with --re-decide: strategy parameter override, as given to start",
    )
    replay_parser.set_defaults(handler=replay.run)

    import importlib

    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


#: Modules defining more commands; each has `register(commands)` adding its sub-parsers.
_COMMAND_MODULES = ("tradeexecutor.cli.start", "tradeexecutor.cli.fake_exchange", "tradeexecutor.cli.repair")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except (StoreError, CliError, InvalidEvent, SerialisationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
