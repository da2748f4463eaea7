"""A snapshot read for a summary (`show`): everything but the closed history, whose size grows with
every round trip, is read as usual; the closed positions are read one at a time and only the
newest ones (and those holding the newest trades) are kept.

A closed position of a long backtest is a few hundred bytes of JSON but a few KB as Python
objects; 50,000 of them would cost `show` half a GB to print ten lines. The snapshot's bytes are
what `dump_state` writes (no whitespace, members in a fixed order), so the closed positions are
the object between `"closed_positions":` and `,"frozen_positions":`, one `"ID":{"pair_id":...}`
member each. Anything unexpected (a snapshot written by another tool, a parse error) returns
None, and the caller reads the snapshot the ordinary way.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Any

import orjson

from tradeexecutor.state.errors import SerialisationError
from tradeexecutor.state.state import SCHEMA_VERSION, State
from tradeexecutor.store.gcpause import gc_paused
from tradeexecutor.store.snapshot_shape import _POSITION, check_snapshot_shape

_OPEN = b'"closed_positions":{'
_CLOSE = b'},"frozen_positions":{'
_MEMBER = re.compile(rb'"([1-9][0-9]{0,16})":\{"pair_id":')


@dataclass(slots=True)
class SnapshotSummary:
    """The snapshot's state with only some closed positions, and the totals of the whole."""

    state: State
    closed_total: int
    trades_total: int


def _time_key(text: str) -> str:
    """Timestamps of our format compared as text: `.mmmZ` as `.mmm000Z`, so milliseconds and
    microseconds order correctly."""
    return text[:23] + "000Z" if len(text) == 24 else text


def read_summary(data: bytes, closed: int, trades: int) -> SnapshotSummary | None:
    """The snapshot's state (its JSON `data`, without a seal) with its `closed` newest closed
    positions and those holding its `trades` newest trades; None when `data` is not in the layout
    this reader expects."""
    start = data.find(_OPEN)
    end = data.find(_CLOSE, start)
    if start < 0 or end < 0 or data.find(_OPEN, start + 1) >= 0:
        return None
    body_start = start + len(_OPEN)
    try:
        with gc_paused():
            raw = orjson.loads(data[:body_start] + data[end:])
            if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
                return None
            check_snapshot_shape(raw)
            return _summary(raw, data, _closed_members(data, body_start, end), closed, trades)
    except (orjson.JSONDecodeError, SerialisationError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _closed_members(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(position id, first byte, end byte) of each closed position's object."""
    spans: list[tuple[int, int, int]] = []
    previous: tuple[int, int] | None = None
    for match in _MEMBER.finditer(data, start, end):
        if previous is not None:
            spans.append((previous[0], previous[1], match.start() - 1))  # before the comma
        previous = (int(match.group(1)), match.end() - len(b'{"pair_id":'))
    if previous is not None:
        spans.append((previous[0], previous[1], end))  # `end` is the closing brace of the map
    return spans


def _keep(heap: list[Any], size: int, item: Any) -> None:
    """Keep the `size` largest items in the min-heap `heap`."""
    if len(heap) < size:
        heapq.heappush(heap, item)
    elif size and item > heap[0]:
        heapq.heapreplace(heap, item)


def _summary(raw: dict[str, Any], data: bytes, spans: list[tuple[int, int, int]], closed: int, trades: int) -> SnapshotSummary:
    """Walk the closed positions one at a time, keeping the newest; then build the state."""
    portfolio = raw["portfolio"]
    pairs = raw["pairs"]
    newest_closed: list[tuple[str, int]] = []
    newest_trades: list[tuple[str, int, int]] = []
    trades_total = 0
    for status in ("open_positions", "frozen_positions"):
        for key, position in portfolio[status].items():
            for trade_id, trade in position["trades"].items():
                trades_total += 1
                _keep(newest_trades, trades, (_time_key(trade["planned_at"]), int(trade_id), -int(key)))
    for position_id, first, last in spans:
        position = orjson.loads(data[first:last])
        _POSITION(position, f"portfolio.closed_positions.{position_id}")
        if str(position["pair_id"]) not in pairs:
            raise SerialisationError(f"closed position {position_id} names an unknown pair")
        _keep(newest_closed, closed, (_time_key(position.get("closed_at") or position["opened_at"]), position_id))
        for trade_id, trade in position["trades"].items():
            trades_total += 1
            _keep(newest_trades, trades, (_time_key(trade["planned_at"]), int(trade_id), position_id))
    kept = {position_id for _, position_id in newest_closed} | {p for _, _, p in newest_trades if p > 0}
    portfolio["closed_positions"] = {
        str(position_id): orjson.loads(data[first:last]) for position_id, first, last in spans if position_id in kept
    }
    return SnapshotSummary(State.from_dict(raw), len(spans), trades_total)
