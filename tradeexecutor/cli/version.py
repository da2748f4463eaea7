"""`trade-executor version`."""

from __future__ import annotations

import click

from tradeexecutor import __version__


@click.command("version", help="Print the version.")
def version_command() -> int:
    click.echo(f"tradeexecutor {__version__}")
    return 0
