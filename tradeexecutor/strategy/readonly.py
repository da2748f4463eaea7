"""Read-only views of the `State` a strategy is handed.

Only the reducer changes a `State`. A strategy that wrote to the one it is given (added to a
reserve, appended to a list, changed a position's quantity) would change the snapshot without an
event, and the log would no longer replay to it. So a strategy sees the state through views built
lazily, one object at a time as it reads: an attribute read returns the value, or a view of it when
the value is mutable (a position, a dict of trades, the list of balance updates); every write (setting
an attribute, `d[k] = v`, `append`, `pop`, ...) is refused with `StateMutationError` and noted in
the cycle's `MutationGuard`, so the runner stops the run even if the strategy swallows the error.

The cost is one small object per mutable value read, nothing for values never read, and nothing
at all for the runner's own code, which works on the real state. Views pass `isinstance` checks
for the class they wrap (`isinstance(view, Position)`); `copy.deepcopy(view)` gives a real, private,
mutable copy. The views guard against accidents, not against malice: Python code in the same
process can always reach the object behind a view.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from types import BuiltinMethodType, FunctionType, MethodType
from typing import Any, NoReturn


class StateMutationError(Exception):
    """A strategy tried to change the State it was handed."""


class MutationGuard:
    """Remembers the first write a strategy attempted (the path of what it tried to change)."""

    __slots__ = ("attempt",)

    def __init__(self) -> None:
        self.attempt: str | None = None

    def refuse(self, path: str) -> NoReturn:
        if self.attempt is None:
            self.attempt = path
        raise StateMutationError(
            f"{path} is read-only: strategies must not mutate State; return intents instead"
        )


_LEAF, _DICT, _LIST, _TUPLE, _SET, _CALLABLE, _ITERATOR, _OBJECT = range(8)
_LEAF_TYPES: tuple[type, ...] = (
    int, float, complex, str, bytes, bool, Decimal, datetime, date, time, timedelta, type(None), frozenset, range,
)  # fmt: skip
_KINDS: dict[type, int] = {t: _LEAF for t in _LEAF_TYPES}


def _kind(value_type: type) -> int:
    kind = _KINDS.get(value_type)
    if kind is not None:
        return kind
    params = getattr(value_type, "__dataclass_params__", None)
    if issubclass(value_type, Enum | type) or (params is not None and params.frozen):
        kind = _LEAF  # members and frozen value types (fills, assets, pairs) cannot be written to
    elif issubclass(value_type, dict):
        kind = _DICT
    elif issubclass(value_type, list):
        kind = _LIST
    elif issubclass(value_type, tuple):
        kind = _TUPLE
    elif issubclass(value_type, set):
        kind = _SET
    elif issubclass(value_type, Iterator):
        kind = _ITERATOR
    elif issubclass(value_type, MethodType | BuiltinMethodType | FunctionType):
        kind = _CALLABLE
    else:
        kind = _OBJECT
    _KINDS[value_type] = kind
    return kind


def read_only(value: Any, path: str, guard: MutationGuard) -> Any:
    """`value` itself when nothing in it can be written to, else a read-only view of it."""
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _kind(type(value))
    if kind == _LEAF:
        return value
    if kind == _DICT:
        return MappingView(value, path, guard)
    if kind == _LIST:
        return SequenceView(value, path, guard)
    if kind == _OBJECT:
        return ObjectView(value, path, guard)
    if kind == _TUPLE:
        return tuple(read_only(item, f"{path}[{index}]", guard) for index, item in enumerate(value))
    if kind == _SET:
        return frozenset(value)
    if kind == _ITERATOR:
        return (read_only(item, f"{path}[]", guard) for item in value)
    return MethodView(value, path, guard)


#: Methods of state objects that build a new value from scratch: their result is the caller's own.
_FRESH_RESULTS = frozenset({"to_dict"})


class ObjectView:
    """A state object (`State`, `Portfolio`, `Position`, `Trade`, ...) whose attributes are read only."""

    __slots__ = ("_view_target", "_view_path", "_view_guard")

    def __init__(self, target: object, path: str, guard: MutationGuard) -> None:
        object.__setattr__(self, "_view_target", target)
        object.__setattr__(self, "_view_path", path)
        object.__setattr__(self, "_view_guard", guard)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._view_target, name)
        if name.startswith("__") or name in _FRESH_RESULTS:
            return value
        return read_only(value, f"{self._view_path}.{name}", self._view_guard)

    def __setattr__(self, name: str, value: object) -> None:
        self._view_guard.refuse(f"{self._view_path}.{name}")

    def __delattr__(self, name: str) -> None:
        self._view_guard.refuse(f"{self._view_path}.{name}")

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # so that isinstance(view, Position) holds
        return type(self._view_target)

    def __eq__(self, other: object) -> bool:
        return bool(self._view_target == _unwrap(other))

    def __hash__(self) -> int:
        return hash(self._view_target)

    def __repr__(self) -> str:
        return repr(self._view_target)

    def __dir__(self) -> list[str]:
        return dir(self._view_target)

    def __copy__(self) -> object:
        return copy.copy(self._view_target)

    def __deepcopy__(self, memo: dict[int, object]) -> object:
        return copy.deepcopy(self._view_target, memo)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self._view_target.__reduce_ex__(protocol)


class MethodView:
    """A method of a state object: its result is read-only too (`portfolio.live_positions()`)."""

    __slots__ = ("_method", "_path", "_guard")

    def __init__(self, method: Callable[..., Any], path: str, guard: MutationGuard) -> None:
        self._method, self._path, self._guard = method, path, guard

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return read_only(self._method(*args, **kwargs), f"{self._path}()", self._guard)

    def __repr__(self) -> str:
        return repr(self._method)


class MappingView(Mapping[Any, Any]):
    """A dict of the state (`reserves`, `open_positions`, `trades`): reads only."""

    __slots__ = ("_target", "_path", "_guard")

    def __init__(self, target: dict[Any, Any], path: str, guard: MutationGuard) -> None:
        self._target, self._path, self._guard = target, path, guard

    def __getitem__(self, key: Any) -> Any:
        return read_only(self._target[key], f"{self._path}[{key!r}]", self._guard)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._target)

    def __len__(self) -> int:
        return len(self._target)

    def __contains__(self, key: object) -> bool:
        return key in self._target

    def __eq__(self, other: object) -> bool:
        return bool(self._target == _unwrap(other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._target)

    def copy(self) -> dict[Any, Any]:
        """A new dict (of read-only values) the strategy may change as it likes."""
        return {key: self[key] for key in self._target}

    def __deepcopy__(self, memo: dict[int, object]) -> object:
        return copy.deepcopy(self._target, memo)

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        self._guard.refuse(self._path)

    __setitem__ = __delitem__ = pop = popitem = clear = update = setdefault = __ior__ = _refuse


class SequenceView(Sequence[Any]):
    """A list of the state (`balance_updates`, a trade's `fills`): reads only."""

    __slots__ = ("_target", "_path", "_guard")

    def __init__(self, target: list[Any], path: str, guard: MutationGuard) -> None:
        self._target, self._path, self._guard = target, path, guard

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(read_only(item, f"{self._path}[{index}]", self._guard) for item in self._target[index])
        return read_only(self._target[index], f"{self._path}[{index}]", self._guard)

    def __iter__(self) -> Iterator[Any]:
        path, guard = self._path, self._guard
        return (read_only(item, f"{path}[{index}]", guard) for index, item in enumerate(self._target))

    def __len__(self) -> int:
        return len(self._target)

    def __eq__(self, other: object) -> bool:
        return bool(self._target == _unwrap(other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._target)

    def copy(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, object]) -> object:
        return copy.deepcopy(self._target, memo)

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        self._guard.refuse(self._path)

    __setitem__ = __delitem__ = append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __iadd__ = __imul__ = _refuse


def _unwrap(value: object) -> object:
    if type(value) is ObjectView:
        return object.__getattribute__(value, "_view_target")
    if type(value) is MappingView or type(value) is SequenceView:
        return value._target
    return value
