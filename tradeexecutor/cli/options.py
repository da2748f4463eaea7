"""Options, value types and errors shared by the commands.

Every option is also read from the environment variable `TRADE_EXECUTOR_<OPTION>` (`--max-cycles`
-> `TRADE_EXECUTOR_MAX_CYCLES`); `--help` lists the variable next to each option. Options that
repeat (`--param`) take several space-separated values from the environment.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import click

from tradeexecutor.store.paths import DEFAULT_EXECUTOR_ID

ENV_PREFIX = "TRADE_EXECUTOR_"

F = TypeVar("F", bound=Callable[..., Any])


class CliError(Exception):
    """A user mistake that the CLI reports in one line."""


def envvar(name: str) -> str:
    """`--max-cycles` -> `TRADE_EXECUTOR_MAX_CYCLES`."""
    return ENV_PREFIX + name.lstrip("-").split("/")[0].upper().replace("-", "_")


class EnvOption(click.Option):
    """An option whose errors name the environment variable only when the value came from it."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = " / ".join(f"'{opt}'" for opt in self.opts)
        if ctx is not None and self.name is not None and isinstance(self.envvar, str):
            if ctx.get_parameter_source(self.name) is click.core.ParameterSource.ENVIRONMENT:
                hint += f" (from the environment variable {self.envvar})"
        return hint


def option(flag: str, *more: str, **kwargs: Any) -> Callable[[F], F]:
    """`click.option` with the environment variable named after the (first) flag, shown in --help."""
    kwargs.setdefault("cls", EnvOption)
    kwargs.setdefault("envvar", envvar(flag))
    kwargs.setdefault("show_envvar", True)
    kwargs.setdefault("show_default", "default" in kwargs and kwargs["default"] is not None)
    return click.option(flag, *more, **kwargs)


# --- value types ----------------------------------------------------------------------------------


class DecimalRange(click.ParamType[Decimal]):
    """An exact, finite Decimal within bounds (`low <= x`, `x < high` when `high_open`)."""

    name = "decimal"

    def __init__(
        self,
        low: Decimal | None = None,
        high: Decimal | None = None,
        low_open: bool = False,
        high_open: bool = False,
        high_text: str | None = None,
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.high_text = high_text if high_text is not None else str(high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        else:
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                self.fail(f"{value!r} is not a number", param, ctx)
        if not number.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        too_low = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        too_high = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if too_low or too_high:
            self.fail(f"{value!r} is not {self.describe()}", param, ctx)
        return number

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'above' if self.low_open else 'at least'} {self.low}")
        if self.high is not None:
            parts.append(f"{'below' if self.high_open else 'at most'} {self.high_text}")
        return " and ".join(parts) or "a number"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DECIMAL"


class Seconds(click.ParamType[float]):
    """A duration: `60`, `90s`, `5m`, `1h` -> seconds (finite, not negative)."""

    name = "seconds"
    UNITS = {"s": 1, "m": 60, "h": 3600}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            text = str(value).strip()
            number, unit = (text[:-1], text[-1]) if text and text[-1] in self.UNITS else (text, "s")
            try:
                seconds = float(number) * self.UNITS[unit]
            except ValueError:
                self.fail(f"{value!r} is not a duration like 60, 90s, 5m or 1h", param, ctx)
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite duration", param, ctx)
        if seconds < 0:
            self.fail(f"{value!r} must not be negative", param, ctx)
        return seconds

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "SECONDS"


class When(click.ParamType[datetime]):
    """An ISO date or date-time, read as UTC when it carries no offset."""

    name = "datetime"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a date like 2025-01-31 or 2025-01-31T12:00Z", param, ctx)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DATE"


class NameValue(click.ParamType[tuple[str, str]]):
    """`NAME=VALUE` (a strategy parameter override)."""

    name = "name=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        text = str(value)
        name, sep, rest = text.partition("=")
        if not sep or not name.strip():
            self.fail(f"expected NAME=VALUE, got {text!r}", param, ctx)
        return name.strip(), rest.strip()

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "NAME=VALUE"


# --- shared options -------------------------------------------------------------------------------


def state_options(function: F) -> F:
    """`--state-dir` and `--id`: which executor's files a command works on."""
    function = option(
        "--id",
        "id",
        default=DEFAULT_EXECUTOR_ID,
        help="executor id, the state files' name",
    )(function)
    return option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=True, dir_okay=True),
        default=Path("state"),
        show_default=True,
        help="folder of the state files",
    )(function)


def param_option(help_text: str) -> Callable[[F], F]:
    return option(
        "--param",
        "params",
        type=NameValue(),
        multiple=True,
        help=f"{help_text} (repeatable; in the environment: space-separated NAME=VALUE items)",
    )


# --- checks before a command writes anything ------------------------------------------------------


def check_writable_folder(folder: Path, option_name: str = "--state-dir") -> None:
    """The folder exists (or can be made) and a file can be created in it; else one clear line.

    Checked before the run so that a file in the way, a read-only place or a pseudo file system
    such as /proc is named as such, rather than surfacing later as a lock or rename failure.
    """
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{option_name} {folder} is a file, not a folder; give a folder for the state files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(
            f"{option_name} {folder}: cannot create the folder ({_reason(exc)}); give a folder you can write to"
        ) from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-", delete=True) as probe:
            probe.write(b"ok")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise CliError(
            f"{option_name} {folder}: cannot write files in the folder ({_reason(exc)}); "
            "give a folder you can write to"
        ) from None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_report_path(report: Path | None) -> None:
    """Refuse a report file that could not be written at the end of the run, before it starts."""
    if report is None:
        return
    if report.suffix.lower() not in (".html", ".htm", ".png"):
        raise CliError(f"--report {report}: the file must end in .html or .png")
    folder = report.parent
    if not folder.is_dir():
        raise CliError(f"--report {report}: the folder {folder} does not exist; create it first")
    if report.is_dir():
        raise CliError(f"--report {report} is a folder; give a file name ending in .html or .png")
    if not os.access(folder, os.W_OK):
        raise CliError(f"--report {report}: the folder {folder} is not writable")


_PAIR = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")


def check_pair(pair: str, data_pair: str | None, data_name: str) -> None:
    """A pair in ccxt form (`BTC/USDT`, upper case), and the one the data is for when it says."""
    if not _PAIR.match(pair):
        upper = pair.strip().upper()
        if _PAIR.match(upper):
            raise CliError(f"--pair {pair}: pairs are upper-case BASE/QUOTE as in ccxt; did you mean {upper}?")
        raise CliError(f"--pair {pair} is not of the form BASE/QUOTE (e.g. BTC/USDT)")
    if data_pair is not None and pair != data_pair:
        raise CliError(
            f"--pair {pair}: the data {data_name} is {data_pair} candles, it has no {pair}; "
            f"use --pair {data_pair} or give --data for {pair}"
        )
