"""Running `trade-executor` in-process with click's CliRunner, as the console script runs it."""

from __future__ import annotations

from collections.abc import Mapping

from click.testing import CliRunner, Result

from tradeexecutor.cli.main import cli


def invoke(*args: str, env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
    """Run one command; the project's error handling is inside the group, so exit codes and
    `error: ...` lines are the console script's. Environment variables of the caller named
    TRADE_EXECUTOR_* are hidden so that each test sees only its own."""
    import os

    clean = {name: None for name in os.environ if name.startswith("TRADE_EXECUTOR_")}
    return CliRunner().invoke(cli, list(args), env={**clean, **(env or {})}, input=input, catch_exceptions=False)


def error_line(result: Result) -> str:
    """The one line on stderr (asserting there is exactly one, and no traceback)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
