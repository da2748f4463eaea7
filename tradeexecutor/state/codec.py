"""Event <-> JSON-ready dict conversion, derived once per event class from its type hints.

Decimals become strings (exact round trip), datetimes ISO 8601 with `Z`, enums their value,
`dict[int, Decimal]` an object with string keys. A value of the wrong type (a float where a
Decimal belongs, a naive datetime) is refused when the event is encoded, before it can reach the
log, because it would not replay to the same state.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson

from tradeexecutor.state.errors import SerialisationError
from tradeexecutor.state.events import EVENT_TYPES, Event, slot_setter
from tradeexecutor.state.values import format_time, parse_time

Encoder = Callable[[Any], Any]
Decoder = Callable[[Any], Any]


def _check_int(value: Any) -> int:
    if type(value) is not int:
        raise SerialisationError(f"expected an int, got {type(value).__name__} {value!r}")
    if not -(2**53) < value < 2**53:
        raise SerialisationError(f"integer {value} does not fit a JavaScript number (|n| < 2^53)")
    return value


def _check_str(value: Any) -> str:
    if type(value) is not str and not isinstance(value, str):
        raise SerialisationError(f"expected a str, got {type(value).__name__} {value!r}")
    return str(value)


def _encode_decimal(value: Any) -> str:
    if type(value) is not Decimal:
        raise SerialisationError(
            f"expected a Decimal, got {type(value).__name__} {value!r}; money is exact, write Decimal('...')"
        )
    if not value.is_finite():
        raise SerialisationError(f"decimal {value} is not finite")
    return str(value)


def _encode_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise SerialisationError(f"expected a bool, got {type(value).__name__} {value!r}")
    return value


#: Decimals already read, by their text: a log repeats the same prices and quantities over and
#: over, and a lookup costs a fraction of `Decimal(text)` (Decimals are immutable).
_DECIMALS: dict[str, Decimal] = {}


def _decode_decimal(value: Any) -> Decimal:
    if type(value) is not str:
        raise SerialisationError(f"expected a decimal string, got {value!r}")
    result = _DECIMALS.get(value)
    if result is not None:
        return result
    result = Decimal(value)
    if not result.is_finite():
        raise SerialisationError(f"decimal {value!r} is not finite")
    if len(_DECIMALS) >= 100_000:
        _DECIMALS.clear()
    _DECIMALS[value] = result
    return result


def _decode_int(value: Any) -> int:
    if type(value) is not int:
        raise SerialisationError(f"expected an integer, got {value!r}")
    if not -(2**53) < value < 2**53:
        raise SerialisationError(f"expected an integer below 2^53 (a JavaScript safe integer), got {value}")
    return value


def _decode_str(value: Any) -> str:
    if type(value) is not str:
        raise SerialisationError(f"expected a string, got {value!r}")
    return value


def _codec_for(hint: Any) -> tuple[Encoder, Decoder]:
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"unsupported tuple type {hint!r}")
        item_enc, item_dec = _codec_for(args[0])

        def encode_tuple(value: Any) -> list[Any]:
            if not isinstance(value, (tuple, list)):
                raise SerialisationError(f"expected a tuple, got {type(value).__name__}")
            return [item_enc(item) for item in value]

        def decode_tuple(value: Any) -> tuple[Any, ...]:
            if type(value) is not list:
                raise SerialisationError(f"expected a list, got {value!r}")
            return tuple(item_dec(item) for item in value)

        return encode_tuple, decode_tuple
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        value_enc, value_dec = _codec_for(value_type)
        if key_type is int:
            return (
                lambda v: {str(_check_int(k)): value_enc(x) for k, x in v.items()},
                lambda v: {int(k): value_dec(x) for k, x in v.items()},
            )
        if key_type is str:
            return (
                lambda v: {_check_str(k): value_enc(x) for k, x in v.items()},
                lambda v: {k: value_dec(x) for k, x in v.items()},
            )
        raise TypeError(f"unsupported dict key type in {hint!r}")
    if hint is Decimal:
        return _encode_decimal, _decode_decimal
    if hint is datetime:
        return format_time, parse_time
    if hint is int:
        return _check_int, _decode_int
    if hint is str:
        return _check_str, _decode_str
    if hint is bool:
        return _encode_bool, _encode_bool
    if isinstance(hint, type) and issubclass(hint, Enum):
        enum_type = hint

        def encode_enum(value: Any) -> Any:
            # orjson writes enum members as their value; anything else must convert to one.
            return value if type(value) is enum_type else enum_type(value)

        return encode_enum, enum_type
    raise TypeError(f"unsupported field type {hint!r}")


@dataclasses.dataclass(slots=True, frozen=True)
class _EventCodec:
    """Encoder and decoder of one event class, generated once as straight-line code.

    Replay speed is bounded by decoding, so instead of looping over fields each class gets a
    function with one line per field (the way `dataclasses` builds `__init__`). The decoder
    fills the frozen instance through its slot descriptors, which skips the frozen
    `__setattr__` guard that would otherwise cost a call per field.
    """

    encode: Callable[[Event], dict[str, Any]]
    decode: Callable[[str, dict[str, Any]], Event]
    names: frozenset[str]
    record: Callable[[int, Event], bytes]


_CODECS: dict[type[Event], _EventCodec] = {}


_SAFE_INT = 2**53


def _bad_value(name: str, value: Any, encoder: Encoder) -> None:
    """Raise the encoder's own error for a value the inline check refused."""
    try:
        encoder(value)
    except SerialisationError as exc:
        raise SerialisationError(f"{name}: {exc}") from None
    raise SerialisationError(f"{name}: cannot encode {value!r}")


def _build_codec(cls: type[Event]) -> _EventCodec:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "at"]
    namespace: dict[str, Any] = {
        "cls": cls,
        "new": object.__new__,
        "parse_time": parse_time,
        "set_at": slot_setter(cls, "at"),
        "SerialisationError": SerialisationError,
        "expected_names": sorted(names),
    }
    encode_lines = ["def encode(event):"]
    result_lines = ["    return {"]
    decode_lines = [
        "def decode(at, data):",
        f"    if len(data) != {len(names)}:",
        "        raise SerialisationError(f'expected fields {expected_names}, got {sorted(data)}')",
        "    event = new(cls)",
        "    set_at(event, parse_time(at))",
    ]
    namespace["Decimal"] = Decimal
    namespace["bad"] = _bad_value
    namespace["decimals"] = _DECIMALS
    for index, name in enumerate(names):
        hint = hints[name]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
        if optional:
            (hint,) = (a for a in typing.get_args(hint) if a is not type(None))
        encoder, decoder = _codec_for(hint)
        namespace[f"enc{index}"] = encoder
        namespace[f"dec{index}"] = decoder
        namespace[f"set{index}"] = slot_setter(cls, name)
        value = f"v{index}"
        encode_lines.append(f"    {value} = event.{name}")
        # Decimals, ints and strings are checked inline (the hot path of every cycle); other
        # types go through their encoder function.
        if hint is Decimal:
            check = f"type({value}) is not Decimal or not {value}.is_finite()"
            encoded = f"str({value})"
        elif hint is int:
            check = f"type({value}) is not int or not -{_SAFE_INT} < {value} < {_SAFE_INT}"
            encoded = value
        elif hint is str:
            check = f"not isinstance({value}, str)"
            encoded = value
        else:
            check = None
            encoded = f"enc{index}({value})"
        if check is not None:
            guard = f"{value} is not None and ({check})" if optional else check
            encode_lines.append(f"    if {guard}:")
            encode_lines.append(f"        bad({name!r}, {value}, enc{index})")
        if optional and encoded != value:
            result_lines.append(f"        {name!r}: None if {value} is None else {encoded},")
        else:
            result_lines.append(f"        {name!r}: {encoded},")
        if optional:
            decode_lines.append(f"    value = data[{name!r}]")
            decode_lines.append(f"    set{index}(event, None if value is None else dec{index}(value))")
        elif hint is Decimal:  # a decimal read before is looked up without a call (`_DECIMALS`)
            decode_lines.append(f"    value = data[{name!r}]")
            decode_lines.append(
                f"    set{index}(event, type(value) is str and decimals.get(value) or dec{index}(value))"
            )
        else:
            decode_lines.append(f"    set{index}(event, dec{index}(data[{name!r}]))")
    encode_lines.extend(result_lines)
    encode_lines.append("    }")
    decode_lines.append("    return event")
    exec("\n".join(encode_lines), namespace)  # noqa: S102 - generated from our own dataclass fields
    exec("\n".join(decode_lines), namespace)  # noqa: S102
    record = _record_encoder(cls, names, hints, namespace)
    return _EventCodec(namespace["encode"], namespace["decode"], frozenset(names), record)


def _record_encoder(
    cls: type[Event], names: list[str], hints: dict[str, Any], namespace: dict[str, Any]
) -> Callable[[int, Event], bytes]:
    """The log record's JSON bytes for one event, without the final `}` (the log appends its
    checksum member there): `{"seq":..,"type":..,"at":..,"data":{..}`.

    Events whose fields are all Decimals and ints (the per-cycle `market_observed` and
    `cycle_completed`) are written by a string template: their values need no JSON escaping,
    and the template makes exactly the bytes orjson would (a test compares the two). Other events
    go through orjson.
    """
    type_name = cls.type_name
    encode = namespace["encode"]
    templated = all(hints[name] in (Decimal, int) for name in names)
    if not templated:
        dumps = orjson.dumps

        def record(seq: int, event: Event) -> bytes:
            return dumps({"seq": seq, "type": type_name, "at": format_time(event.at), "data": encode(event)})[:-1]

        return record
    parts = [f'"{name}":"%s"' if hints[name] is Decimal else f'"{name}":%d' for name in names]
    template = '{"seq":%d,"type":"' + type_name + '","at":"%s","data":{' + ",".join(parts) + "}"
    lines = ["def record(seq, event):"]
    for index, name in enumerate(names):
        value = f"v{index}"
        lines.append(f"    {value} = event.{name}")
        if hints[name] is Decimal:
            lines.append(f"    if type({value}) is not Decimal or not {value}.is_finite():")
        else:
            lines.append(f"    if type({value}) is not int or not -{_SAFE_INT} < {value} < {_SAFE_INT}:")
        lines.append(f"        bad({name!r}, {value}, enc{index})")
    values = "".join(f", v{index}" for index in range(len(names)))
    lines.append(f"    return (TEMPLATE % (seq, format_time(event.at){values})).encode()")
    scope = dict(namespace, format_time=format_time, TEMPLATE=template)
    exec("\n".join(lines), scope)  # noqa: S102 - generated from our own dataclass fields
    templated_record: Callable[[int, Event], bytes] = scope["record"]
    return templated_record


def _codec(cls: type[Event]) -> _EventCodec:
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _build_codec(cls)
    return codec


def encode_event(event: Event) -> tuple[str, str, dict[str, Any]]:
    """Return `(type, at, data)` for the log's envelope; raises SerialisationError on a bad value."""
    cls = type(event)
    codec = _CODECS.get(cls)
    if codec is None:
        if EVENT_TYPES.get(cls.type_name) is not cls:
            raise SerialisationError(f"{cls.__name__} is not a registered event type")
        codec = _codec(cls)
    try:
        return cls.type_name, format_time(event.at), codec.encode(event)
    except SerialisationError as exc:
        raise SerialisationError(f"{cls.__name__}: {exc}") from None


def encode_record(seq: int, event: Event) -> bytes:
    """The JSON bytes of the log record of `event` at `seq` (without checksum and line end)."""
    return encode_head(seq, event) + b"}"


def encode_head(seq: int, event: Event) -> bytes:
    """`encode_record` without its final `}`: the log line is built on it without a copy."""
    cls = type(event)
    codec = _CODECS.get(cls)
    if codec is None:
        if EVENT_TYPES.get(cls.type_name) is not cls:
            raise SerialisationError(f"{cls.__name__} is not a registered event type")
        codec = _codec(cls)
    try:
        return codec.record(seq, event)
    except SerialisationError as exc:
        raise SerialisationError(f"{cls.__name__}: {exc}") from None


def decode_event(type_name: str, at: str, data: dict[str, Any]) -> Event:
    """Rebuild an event from its envelope; raises SerialisationError naming what is wrong."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise SerialisationError(f"unknown event type {type_name!r} (not one this version of tradeexecutor knows)")
    codec = _CODECS.get(cls) or _codec(cls)
    try:
        return codec.decode(at, data)
    except KeyError as exc:
        raise SerialisationError(f"{type_name}: missing field {exc.args[0]!r}") from None
    except SerialisationError as exc:
        raise SerialisationError(f"{type_name}: {exc}") from None
    except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
        raise SerialisationError(f"{type_name}: bad value ({exc})") from None


def event_decoders() -> dict[str, Callable[[str, dict[str, Any]], Event]]:
    """Type name -> the generated decoder of that event class, for loops that decode millions of
    records. The decoders raise whatever the bad value raises (KeyError, SerialisationError,
    ValueError, ...); call `decode_event` on a record one refuses for the message."""
    return {name: _codec(cls).decode for name, cls in EVENT_TYPES.items()}
