"""The snapshot's JSON shape, checked before a snapshot is read into a `State`.

A snapshot is a cache that people and other programs may edit or copy. Reading one without
checking its types turns `"cycle": "abc"` into a `TypeError` deep in start-up, or prints it as
is; this module refuses it first, naming the field's path (`portfolio.reserves.USDT`), what was
found and what belongs there. The rules follow docs/state.schema.json (types, ranges, required and
unknown members); the cross-field rules of the schema are left to the check against the log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import orjson

from tradeexecutor.state.errors import SerialisationError
from tradeexecutor.state.values import parse_time

Check = Callable[[Any, str], None]

_SAFE = 2**53


def _shown(value: Any) -> str:
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)  # fmt: skip
    text = orjson.dumps(value).decode() if not isinstance(value, (dict, list, type(None))) else ""
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}".rstrip()


def _fail(path: str, expected: str, value: Any) -> NoReturn:
    raise SerialisationError(f"{path} is {_shown(value)}, expected {expected}")


def integer(low: int, high: int = _SAFE - 1, what: str | None = None) -> Check:
    expected = what or f"a whole number {low}..{high if high < _SAFE - 1 else '2^53-1'}"

    def check(value: Any, path: str) -> None:
        if type(value) is not int or not low <= value <= high:
            _fail(path, expected, value)

    return check


COUNT = integer(0)
ID = integer(1, what="a positive whole number (an id)")


def decimal(sign: str = "any") -> Check:
    """A decimal string; `sign` is any, non_negative or positive."""
    expected = {"any": "a decimal string", "non_negative": "a decimal string >= 0",
                "positive": "a decimal string > 0"}[sign]  # fmt: skip

    def check(value: Any, path: str) -> None:
        if type(value) is not str:
            _fail(path, expected, value)
        try:
            number = Decimal(value)
        except InvalidOperation:
            _fail(path, expected, value)
        if not number.is_finite() or (sign == "non_negative" and number < 0) or (sign == "positive" and number <= 0):
            _fail(path, expected, value)

    return check


def string(min_length: int = 0) -> Check:
    expected = "a non-empty string" if min_length else "a string"

    def check(value: Any, path: str) -> None:
        if type(value) is not str or len(value) < min_length:
            _fail(path, expected, value)

    return check


def timestamp(value: Any, path: str) -> None:
    if type(value) is not str:
        _fail(path, "an ISO 8601 UTC timestamp string", value)
    try:
        parse_time(value)
    except SerialisationError:
        _fail(path, "an ISO 8601 UTC timestamp string", value)


def one_of(*choices: str) -> Check:
    expected = "one of " + ", ".join(choices)

    def check(value: Any, path: str) -> None:
        if value not in choices or type(value) is not str:
            _fail(path, expected, value)

    return check


def optional(inner: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)

    return check


def obj(required: Mapping[str, Check], optional_members: Mapping[str, Check] | None = None) -> Check:
    """An object with exactly these members (the optional ones may be absent)."""
    extra = optional_members or {}

    def check(value: Any, path: str) -> None:
        if type(value) is not dict:
            _fail(path or "the snapshot", "an object", value)
        prefix = f"{path}." if path else ""
        for name, member in required.items():
            if name not in value:
                raise SerialisationError(f"{prefix}{name} is missing")
            member(value[name], prefix + name)
        for name, item in value.items():
            if name in required:
                continue
            extra_check = extra.get(name)
            if extra_check is None:
                raise SerialisationError(f"{prefix}{name} is not a field of the snapshot")
            extra_check(item, prefix + name)

    return check


def mapping(value_check: Check, id_keys: bool = False) -> Check:
    def check(value: Any, path: str) -> None:
        if type(value) is not dict:
            _fail(path, "an object", value)
        for key, item in value.items():
            if id_keys and not (key.isdigit() and key[0] != "0" and len(key) < 17):
                raise SerialisationError(f"{path} has the key {key!r}, expected a positive whole number")
            if not id_keys and not key:
                raise SerialisationError(f"{path} has an empty key")
            value_check(item, f"{path}.{key}")

    return check


def array(item_check: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if type(value) is not list:
            _fail(path, "a list", value)
        for index, item in enumerate(value):
            item_check(item, f"{path}[{index}]")

    return check


def row(*items: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if type(value) is not list or len(value) != len(items):
            _fail(path, f"a list of {len(items)} items", value)
        for index, (item, item_check) in enumerate(zip(value, items, strict=True)):
            item_check(item, f"{path}[{index}]")

    return check


_TEXT = string()
_NAME = string(1)

_FILL = row(decimal("positive"), decimal("positive"), decimal("non_negative"), _NAME, timestamp, optional(_TEXT))

_TRADE = obj(
    {
        "side": one_of("buy", "sell"),
        "type": one_of("market", "limit"),
        "status": one_of("planned", "submitted", "partially_filled", "filled", "cancelled", "rejected",
                         "failed", "expired", "repaired"),  # fmt: skip
        "qty": decimal("positive"),
        "client_id": _NAME,
        "planned_at": timestamp,
        "updated_at": timestamp,
        "fills": array(_FILL),
    },
    {"limit": decimal("positive"), "order_id": _TEXT, "expires_at": timestamp, "reason": _TEXT},
)

_POSITION = obj(
    {
        "pair_id": ID,
        "direction": one_of("long", "short"),
        "opened_at": timestamp,
        "qty": decimal("non_negative"),
        "avg_price": decimal("non_negative"),
        "realised_pnl": decimal(),
        "fees": decimal("non_negative"),
        "trades": mapping(lambda v, p: _TRADE(v, p), id_keys=True),
    },
    {"closed_at": timestamp, "funding": decimal(), "mark_price": decimal("positive"), "frozen_reason": _NAME,
     "dust": decimal("positive")},  # fmt: skip
)

_BALANCE_UPDATE = obj(
    {
        "id": ID,
        "kind": one_of("deposit", "withdrawal", "fee", "funding", "correction"),
        "asset": _NAME,
        "amount": decimal(),
        "at": timestamp,
        "position_id": optional(ID),
        "note": _TEXT,
    }
)

def _sha256(value: Any, path: str) -> None:
    if type(value) is not str or len(value) != 64 or value.strip("0123456789abcdef"):
        _fail(path, "a sha256 digest (64 hex digits)", value)


_SHA256 = _sha256


def _chain_value(value: Any, path: str) -> None:
    if type(value) is not str or len(value) != 16 or value.strip("0123456789abcdef"):
        _fail(path, "a log chain value (16 hex digits)", value)

_RUN_CONFIGURATION = obj(
    {
        "strategy": _NAME,
        "strategy_sha256": _SHA256,
        "mode": _NAME,
        "pair": _NAME,
        "fee": decimal("non_negative"),
        "slippage_bps": decimal("non_negative"),
        "fill_at": _NAME,
        "initial_cash": decimal("positive"),
        "data": _NAME,
        "data_sha256": optional(_SHA256),
        "data_first_at": optional(timestamp),
        "data_last_at": optional(timestamp),
        "exchange_url": optional(_TEXT),
        "parameters": mapping(_TEXT),
    }
)

_REFUSALS = obj(
    {
        "intents": COUNT,
        "orders": COUNT,
        "by_reason": mapping(integer(1)),
        "recent": array(obj({"at": timestamp, "kind": one_of("intent", "order"), "subject": _TEXT, "reason": _TEXT})),
    }
)

_STATE = obj(
    {
        "schema_version": integer(1),
        "executor_id": optional(_NAME),
        "created_at": optional(timestamp),
        "reserve_currency": optional(_NAME),
        "cycle": COUNT,
        "last_event_seq": COUNT,
        "assets": mapping(obj({"id": _NAME, "decimals": integer(0, 36)})),
        "pairs": mapping(
            obj(
                {"id": ID, "symbol": _TEXT, "base": _NAME, "quote": _NAME, "venue": _TEXT,
                 "kind": one_of("spot", "perpetual")},
                {name: decimal("positive") for name in ("lot_size", "min_quantity", "min_notional")},
            ),  # fmt: skip
            id_keys=True,
        ),
        "portfolio": obj(
            {
                "open_positions": mapping(_POSITION, id_keys=True),
                "closed_positions": mapping(_POSITION, id_keys=True),
                "frozen_positions": mapping(_POSITION, id_keys=True),
                "reserves": mapping(decimal("non_negative")),
                "balance_updates": array(_BALANCE_UPDATE),
                "next_position_id": ID,
                "next_trade_id": ID,
            }
        ),
        "equity": obj(
            {
                "points": COUNT,
                "first_at": optional(timestamp),
                "last": optional(
                    obj({"at": timestamp, "cycle": COUNT, "equity": decimal(), "cash": decimal("non_negative"),
                         "positions_value": decimal()})  # fmt: skip
                ),
                "peak_equity": optional(decimal()),
                "max_drawdown": decimal("non_negative"),
            }
        ),
        "uptime": obj(
            {"runs": array(obj({"started_at": timestamp, "version": _TEXT, "mode": _TEXT,
                                "last_cycle_at": optional(timestamp), "cycles": COUNT}))}  # fmt: skip
        ),
        "strategy_states": mapping(_NAME),
        "last_prices": mapping(decimal("positive"), id_keys=True),
        "first_prices": mapping(decimal("positive"), id_keys=True),
    },
    {
        "refusals": _REFUSALS, "run_configuration": _RUN_CONFIGURATION,  # absent in older snapshots
        "log_chain": _chain_value, "log_offset": COUNT, "digest": _SHA256,  # the seal (store/seal.py)
    },  # fmt: skip
)


def check_snapshot_shape(raw: Any) -> None:
    """Raise SerialisationError naming the first field (by path) whose type or range is wrong."""
    _STATE(raw, "")
    pairs = raw["pairs"]
    for status in ("open_positions", "closed_positions", "frozen_positions"):
        for key, position in raw["portfolio"][status].items():
            if str(position["pair_id"]) not in pairs:
                raise SerialisationError(
                    f"portfolio.{status}.{key}.pair_id is {position['pair_id']}, which is not a key of pairs"
                )
