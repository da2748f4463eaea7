"""Options and errors shared by the commands."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from tradeexecutor.store.paths import DEFAULT_EXECUTOR_ID

ENV_PREFIX = "TRADE_EXECUTOR_"


def env_default(name: str, default: str | None = None) -> str | None:
    """Options can also be set as TRADE_EXECUTOR_<NAME> environment variables."""
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_"), default)


class CliError(Exception):
    """A user mistake that the CLI reports in one line."""


def add_state_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(env_default("state_dir", "state") or "state"),
        help="folder of the state files (env TRADE_EXECUTOR_STATE_DIR; default: state)",
    )
    parser.add_argument(
        "--id",
        default=env_default("id", DEFAULT_EXECUTOR_ID),
        help=f"executor id, the state files' name (env TRADE_EXECUTOR_ID; default: {DEFAULT_EXECUTOR_ID})",
    )


def _param(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


