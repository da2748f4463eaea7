"""`trade-executor strategies`: the bundled strategies, and copying one out to start your own."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import click

from tradeexecutor.cli.options import CliError, option
from tradeexecutor.strategy.loader import StrategyLoadError, bundled_strategies, load_strategy
from tradeexecutor.strategy.parameters import Param, show_value


def _summary(path: Path) -> str:
    """The first sentence of the module docstring (read without running the module)."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "(no description)"
    paragraph = " ".join(docstring.strip().split("\n\n")[0].split())
    sentence, dot, _ = paragraph.partition(". ")
    return sentence + dot.strip()


def _describe(name: str, param: Param) -> str:
    bounds = []
    if param.min is not None:
        bounds.append(f">= {show_value(param.min)}")
    if param.max is not None:
        bounds.append(f"<= {show_value(param.max)}")
    if param.choices is not None:
        bounds.append("in " + "|".join(show_value(c) for c in param.choices))
    return f"{name}={show_value(param.default)}" + (f" ({', '.join(bounds)})" if bounds else "")


def list_strategies() -> int:
    for path in bundled_strategies():
        try:
            strategy = load_strategy(path.stem)
        except StrategyLoadError as exc:  # a broken bundled file should not hide the others
            click.echo(f"{path.stem}: cannot load: {exc}")
            continue
        click.echo(f"{path.stem}: {_summary(path)}")
        parameters = ", ".join(_describe(name, param) for name, param in strategy.declared.items())
        click.echo(f"  parameters: {parameters or '(none)'}")
    click.echo("\ncopy one out with: trade-executor strategies --copy NAME [--to DIR]")
    return 0


def copy_strategy(name: str, folder: Path) -> int:
    known = {path.stem: path for path in bundled_strategies()}
    source = known.get(name.removesuffix(".py"))
    if source is None:
        raise CliError(f"no bundled strategy named {name!r}; the bundled strategies are {sorted(known)}")
    if not folder.is_dir():
        raise CliError(f"--to {folder}: the folder does not exist")
    target = folder / source.name
    if target.exists():
        raise CliError(f"{target} already exists: not overwriting it (remove it, or give another --to DIR)")
    shutil.copyfile(source, target)
    click.echo(f"copied {source.name} to {target}; run it with: trade-executor start --strategy {target}")
    return 0


@click.command(
    "strategies",
    help="List the bundled strategies and their parameters, or copy one out.",
    short_help="List the bundled strategies, or copy one out.",
)
@option("--copy", "copy_name", metavar="NAME", help="copy this bundled strategy's file into --to")
@option(
    "--to",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="with --copy: the folder to copy into",
)
def strategies_command(copy_name: str | None, to: Path) -> int:
    if copy_name is None:
        return list_strategies()
    return copy_strategy(copy_name, to)
