"""Loading a strategy module from a file (or a bundled example by name), with clear errors."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tradeexecutor.strategy.parameters import (
    Param,
    ParameterError,
    UnknownParameter,
    declarations,
    resolve,
    show_value,
)

#: Where the bundled example strategies live: inside the package, so a wheel carries them.
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "strategies"
DEFAULT_STRATEGY = "sma_crossover"


class StrategyLoadError(Exception):
    """The strategy file cannot be used; the message says why and where."""


@dataclass(frozen=True)
class LoadedStrategy:
    path: Path
    module: ModuleType
    source_sha256: str
    decide: Callable[..., Any]
    on_start: Callable[..., Any] | None
    on_fill: Callable[..., Any] | None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    #: Each parameter's declaration (type from its default, bounds, choices), for listings.
    declared: Mapping[str, Param] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


def resolve_strategy_path(spec: str) -> Path:
    """A path to a .py file, or the name of a bundled example (`sma_crossover`, `buy_sell_cycle`)."""
    candidate = Path(spec)
    if candidate.suffix == ".py" or "/" in spec or candidate.exists():
        if not candidate.is_file():
            raise StrategyLoadError(f"strategy file {spec} does not exist")
        return candidate.resolve()
    bundled = EXAMPLES_DIR / f"{spec}.py"
    if bundled.is_file():
        return bundled
    known = [p.stem for p in bundled_strategies()]
    raise StrategyLoadError(
        f"no strategy named {spec!r}: pass a path to a .py file, or one of the bundled examples {known}"
    )


def load_strategy(spec: str, overrides: Mapping[str, str] | None = None) -> LoadedStrategy:
    path = resolve_strategy_path(spec)
    source = path.read_bytes()
    module_name = f"tradeexecutor_strategy_{path.stem}_{hashlib.sha256(source).hexdigest()[:8]}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise StrategyLoadError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise StrategyLoadError(f"strategy {path} has a syntax error at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # the user's module failed while importing: say where
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        where = f" at line {frames[-1].lineno}" if frames else ""
        raise StrategyLoadError(
            f"strategy {path} failed while loading{where}: {type(exc).__name__}: {exc}"
        ) from None
    decide = getattr(module, "decide", None)
    if not callable(decide):
        raise StrategyLoadError(f"strategy {path} defines no decide(cycle) function")
    defaults = getattr(module, "PARAMETERS", {})
    if not isinstance(defaults, Mapping):
        raise StrategyLoadError(f"strategy {path}: PARAMETERS must be a dict, not {type(defaults).__name__}")
    parameters, declared = _parameters(path, module, defaults, overrides or {})
    hooks = {}
    for hook in ("on_start", "on_fill"):
        value = getattr(module, hook, None)
        if value is not None and not callable(value):
            raise StrategyLoadError(f"strategy {path}: {hook} must be a function")
        hooks[hook] = value
    return LoadedStrategy(
        path=path,
        module=module,
        source_sha256=hashlib.sha256(source).hexdigest(),
        decide=decide,
        on_start=hooks["on_start"],
        on_fill=hooks["on_fill"],
        parameters=parameters,
        declared=declared,
    )


def _parameters(
    path: Path, module: ModuleType, defaults: Mapping[str, Any], overrides: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Param]]:
    """The run's parameter values, typed and checked (also against `validate_parameters`)."""
    declared = declarations(defaults)
    try:
        for name, param in declared.items():
            param.check(name, param.default)  # a default outside its own bounds is the author's slip
        values = resolve(declared, overrides)
    except ParameterError as exc:
        separator = " " if isinstance(exc, UnknownParameter) else ": "
        raise StrategyLoadError(f"strategy {path.name}{separator}{exc}") from None
    validate = getattr(module, "validate_parameters", None)
    if validate is not None:
        if not callable(validate):
            raise StrategyLoadError(f"strategy {path}: validate_parameters must be a function")
        try:
            validate(dict(values))
        except ValueError as exc:
            given = ", ".join(f"{name}={show_value(values[name])}" for name in overrides) or "the defaults"
            raise StrategyLoadError(f"strategy {path.name}: parameters refused ({given}): {exc}") from None
    return values, declared


def bundled_strategies() -> list[Path]:
    """The strategy files shipped inside the package, by name."""
    return sorted(p for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))
