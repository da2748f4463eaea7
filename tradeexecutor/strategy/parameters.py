"""Strategy parameters: typed by their default, optionally bounded, checked before a run starts.

A strategy's `PARAMETERS` maps names to plain defaults (`"fast": 10`) or to `Param(default,
min=, max=, choices=)`. A `--param NAME=VALUE` text is read as the default's type (int, Decimal,
float, bool or str) and must lie within the declared bounds or be one of the choices; a strategy
may also define `validate_parameters(parameters) -> None` raising ValueError for checks between
parameters (`fast` below `slow`). Every refusal names the parameter, the value and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

#: The types a parameter's default may have to be typed from the command line.
ParamValue = bool | int | float | Decimal | str


class ParameterError(ValueError):
    """A parameter value that the strategy does not allow; the message says which and why."""


class UnknownParameter(ParameterError):
    """A `--param` name the strategy does not declare."""


def show_value(value: Any) -> str:
    """A value as users write it (`0.00000001`, not `1E-8`)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


@dataclass(frozen=True)
class Param:
    """A declared parameter: its default (which gives the type), inclusive bounds, allowed values."""

    default: Any
    min: Any = None
    max: Any = None
    choices: Sequence[Any] | None = None
    help: str = ""

    def allowed(self) -> str:
        """What values are allowed, in words (`a whole number at least 1`)."""
        words = [_TYPE_WORDS.get(type(self.default), "a value")]
        if self.min is not None:
            words.append(f"at least {show_value(self.min)}")
        if self.max is not None:
            words.append(f"at most {show_value(self.max)}")
        text = " ".join(words[:1]) + (" " + " and ".join(words[1:]) if words[1:] else "")
        if self.choices is not None:
            text = "one of " + ", ".join(show_value(c) for c in self.choices)
        return text

    def parse(self, name: str, text: str) -> Any:
        """The value of `--param name=text`, typed and checked; ParameterError when not allowed."""
        try:
            value = _convert(self.default, text)
        except ValueError:
            raise ParameterError(self._refusal(name, text)) from None
        self.check(name, value, text)
        return value

    def check(self, name: str, value: Any, text: str | None = None) -> None:
        shown = text if text is not None else show_value(value)
        out_of_range = (self.min is not None and value < self.min) or (self.max is not None and value > self.max)
        if out_of_range or (self.choices is not None and value not in self.choices):
            raise ParameterError(self._refusal(name, shown))

    def _refusal(self, name: str, text: str) -> str:
        return f"parameter {name}={text} is not allowed: {name} must be {self.allowed()} (default {show_value(self.default)})"


_TYPE_WORDS: dict[type, str] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    Decimal: "a number",
    str: "a text",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(default: Any, text: str) -> Any:
    """`text` as the type of `default` (ValueError when it is not one)."""
    text = text.strip()
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(text)
    if isinstance(default, int):
        return int(text, 10)
    if isinstance(default, Decimal):
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(text) from None
        if not number.is_finite():
            raise ValueError(text)
        return number
    if isinstance(default, float):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    if isinstance(default, str):
        return text
    return _untyped(text)


def _untyped(text: str) -> Any:
    """A default of no known type (None, a list): an int, else a Decimal, else the text."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return number if number.is_finite() else text


def declarations(defaults: Mapping[str, Any]) -> dict[str, Param]:
    """Every parameter as a `Param` (plain defaults become an unbounded one)."""
    return {name: value if isinstance(value, Param) else Param(value) for name, value in defaults.items()}


def resolve(declared: Mapping[str, Param], overrides: Mapping[str, str]) -> dict[str, Any]:
    """The parameter values of a run: defaults, with `overrides` typed and checked.

    Raises ParameterError for an unknown name, a value of the wrong type or out of bounds."""
    values = {name: param.default for name, param in declared.items()}
    for name, text in overrides.items():
        param = declared.get(name)
        if param is None:
            raise UnknownParameter(f"has no parameter {name!r}; its parameters are {sorted(declared)}")
        values[name] = param.parse(name, text)
    return values
