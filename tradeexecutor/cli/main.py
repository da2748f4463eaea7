"""`trade-executor`: the command line. Thin: parse, wire, call.

User mistakes and damaged files end in a one-line `error: ...` and a non-zero exit, never a
traceback. Exit codes: 0 done, 1 the run or check failed (a strategy error, a mismatch), 2 bad
input or damaged files, 130 interrupted, 141 the reader of our output went away (`show | head`:
the rest of the output is dropped quietly, as `yes | head` does).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from tradeexecutor.cli.fake_exchange import fake_exchange_command
from tradeexecutor.cli.options import CliError
from tradeexecutor.cli.repair import repair_command
from tradeexecutor.cli.replay import replay_command
from tradeexecutor.cli.show import show_command
from tradeexecutor.cli.start import backtest_command, start_command
from tradeexecutor.cli.strategies import strategies_command
from tradeexecutor.cli.version import version_command
from tradeexecutor.state.errors import InvalidEvent, SerialisationError
from tradeexecutor.store.errors import StoreError

#: What the shell reports for a process stopped by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141


class TradeExecutorGroup(click.Group):
    """The command group, with the project's error handling around click's own: one `error: ...`
    line and exit code 2 for any bad input, quiet exit on a closed pipe. `CliRunner` and the
    console script therefore see the same behaviour."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        def run() -> Any:
            return click.Group.main(self, args, prog_name, complete_var, standalone_mode=False, **extra)

        code = _handled(run)
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: click.Context) -> Any:
        # Caught here, inside click, which would otherwise turn a closed pipe into a bare exit 1.
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _drop_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None


@click.group(
    name="trade-executor",
    cls=TradeExecutorGroup,
    help="Event-sourced trade executor: backtest and live crypto trading with an auditable log. "
    "Every option can also be set as an environment variable TRADE_EXECUTOR_<OPTION>.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)
def cli() -> None:
    pass


for _command in (
    start_command,
    backtest_command,
    show_command,
    replay_command,
    repair_command,
    fake_exchange_command,
    strategies_command,
    version_command,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    return int(cli.main(args=args, prog_name="trade-executor", standalone_mode=False))


def _handled(run: Callable[[], Any]) -> int:
    """Run click's main; every way it can end becomes an exit code (and at most one error line)."""
    try:
        result = run()
        return int(result or 0)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx is not None else "")
        return 2
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        print(f"error: {exc.format_message()}{hint}", file=sys.stderr)
        return 2
    except click.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (StoreError, CliError, InvalidEvent, SerialisationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, click.Abort):
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # while printing usage or help
        _drop_stdout()
        return EXIT_BROKEN_PIPE

def _drop_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test runner's capture): nothing buffered will be flushed to a pipe


if __name__ == "__main__":
    sys.exit(main())
