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
    known = sorted(p.stem for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))
    raise StrategyLoadError(
        f"no strategy named {spec!r}: pass a path to a .py file, or one of the bundled examples {known}"
    )


def _parse_parameter(text: str) -> Any:
    from decimal import Decimal, InvalidOperation

    try:
        return int(text)
    except ValueError:
        pass
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


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
    parameters = dict(defaults)
    for name, text in (overrides or {}).items():
        if name not in parameters:
            raise StrategyLoadError(
                f"strategy {path.name} has no parameter {name!r}; its parameters are {sorted(parameters)}"
            )
        parameters[name] = _parse_parameter(text)
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
    )
