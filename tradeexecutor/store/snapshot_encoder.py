"""`SnapshotEncoder`: the snapshot's bytes, with the encoded form of history kept between saves.

A running executor saves its snapshot again and again, and nearly all of it is history that
never changes: closed positions, and the finished trades of positions still open. The encoder
keeps their JSON bytes and splices them into each new snapshot as `orjson.Fragment`s, so a save
encodes only live positions, unfinished trades and the small top-level members. The closed
positions map is kept as one growing byte string (positions only ever join it, at its end).

The result is byte for byte what encoding the state from scratch gives (`dump_state`); tests
compare the two after many cycles and after repairs. What is kept is dropped when it could be
stale: a different portfolio object (a reload or a roll-back), a move of the portfolio's
`history_revision` (a repair), or a closed positions map that is not the kept one extended at
its end.
"""

from __future__ import annotations

from itertools import islice
from operator import is_
from typing import Any

import orjson

from tradeexecutor.state.portfolio import Portfolio
from tradeexecutor.state.position import Position, PositionStatus
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import FINISHED, Trade
from tradeexecutor.store.gcpause import gc_paused

_STAND_IN = orjson.Fragment(b"\x00")


class SnapshotEncoder:
    """Encodes states to snapshot bytes, reusing what it encoded before (one per store)."""

    def __init__(self) -> None:
        self._portfolio: Portfolio | None = None
        self._revision = 0
        self._trades: dict[int, tuple[Trade, orjson.Fragment]] = {}
        self._forget_closed()

    def _forget_closed(self) -> None:
        self._closed: list[Position] = []  # the positions in `_body`, in map order
        self._body = bytearray(b"{")  # `{"1":{...},"2":{...}` without the closing brace
        self._closed_bytes = b"{}"  # `_body` closed, as spliced into the snapshot

    def _forget(self, portfolio: Portfolio) -> None:
        self._portfolio = portfolio
        self._revision = portfolio.history_revision
        self._trades = {}
        self._forget_closed()

    def dump(self, state: State) -> bytes:
        """The snapshot's JSON bytes for `state` (what `dump_state(state)` gives)."""
        return b"".join(self.dump_pieces(state))

    def dump_pieces(self, state: State) -> list[bytes]:
        """`dump(state)` in pieces, which joined are its bytes: the closed positions' kept bytes
        are one piece, never copied into the others."""
        portfolio = state.portfolio
        if portfolio is not self._portfolio or portfolio.history_revision != self._revision:
            self._forget(portfolio)
        with gc_paused():
            encoded = orjson.dumps(state.to_dict(self._positions))
        # The closed positions went in as a one-byte stand-in: a raw NUL, which orjson's own
        # output never holds (it escapes control characters in strings).
        at = encoded.find(b"\x00")
        if at < 0:
            raise RuntimeError("the closed positions' stand-in is missing from the encoded state")
        return [encoded[:at], self._closed_bytes, encoded[at + 1 :]]

    def adopt(self, state: State, snapshot: bytes) -> bool:
        """Keep the closed positions' bytes of `snapshot`, the file `state` was just loaded from,
        so that the first save after a start encodes no closed position again; returns whether it
        did. The bytes are taken only where they are what encoding the state gives: the same
        schema version, the map found where the layout puts it, the positions' count, and a
        sample of them (first, last and spread between) encoded afresh and compared in place."""
        closed = state.portfolio.closed_positions
        if not snapshot.startswith(b'{"schema_version":%d,' % state.schema_version):
            return False
        start = snapshot.find(b',"closed_positions":{', snapshot.find(b',"portfolio":{"open_positions":{'))
        end = snapshot.find(b'},"frozen_positions":{', start)
        if start < 0 or end < 0:
            return False
        span = snapshot[start + len(b',"closed_positions":') : end + 1]
        # Each position's object starts with its pair_id (no trade's does, and no text can hold
        # the unescaped quote), so this counts the positions in the map.
        count = span.count(b':{"pair_id":')
        keys = list(islice(closed, count))
        if len(keys) != count or not count:
            return False
        at = 0
        for index in sorted({0, count - 1, *range(0, count, max(1, count // 32))}):
            key = keys[index]
            entry = b'"%d":%s' % (key, orjson.dumps(closed[key].to_dict()))
            found = span.find(entry, at)
            after = found + len(entry)
            if found < 0 or span[found - 1 : found] not in (b"{", b",") or span[after : after + 1] not in (b",", b"}"):
                return False
            at = found + len(entry)
        if not span.startswith(b'{"%d":' % keys[0]) or at != len(span) - 1:
            return False
        self._forget(state.portfolio)
        self._closed = [closed[key] for key in keys]
        self._body = bytearray(memoryview(span)[:-1])
        self._closed_bytes = span
        return True

    @property
    def kept_positions(self) -> int:
        """How many closed positions' bytes are kept (for tests and benchmarks)."""
        return len(self._closed)

    def _positions(self, status: PositionStatus, positions: dict[int, Position]) -> Any:
        if status is PositionStatus.closed:
            return self._closed_map(positions)
        return {str(k): p.to_dict(self._trades_of(p)) for k, p in positions.items()}

    def _trades_of(self, position: Position) -> dict[str, Any]:
        """The position's trades map with each finished trade's kept bytes (encoded when new)."""
        kept = self._trades
        encoded: dict[str, Any] = {}
        for key, trade in position.trades.items():
            if trade.status in FINISHED:
                hit = kept.get(key)
                if hit is None or hit[0] is not trade:
                    hit = kept[key] = (trade, orjson.Fragment(orjson.dumps(trade.to_dict())))
                encoded[str(key)] = hit[1]
            else:
                encoded[str(key)] = trade.to_dict()
        return encoded

    def _closed_map(self, positions: dict[int, Position]) -> orjson.Fragment:
        """Brings the kept bytes up to date (`_closed_bytes`) and returns their stand-in."""
        kept = self._closed
        count = len(kept)
        if len(positions) < count or not all(map(is_, islice(positions.values(), count), kept)):
            self._forget_closed()  # not the kept map extended at its end: encode it afresh
            kept, count = self._closed, 0
        if len(positions) == count:
            return _STAND_IN
        trades = self._trades
        fresh: dict[str, Any] = {}
        for key, position in islice(positions.items(), count, None):
            # Trades kept while the position was live are reused; the rest are encoded with it.
            reuse = trades and any(trade_id in trades for trade_id in position.trades)
            fresh[str(key)] = position.to_dict(self._trades_of(position) if reuse else None)
            kept.append(position)
            if reuse:
                for trade_id in position.trades:  # now kept inside the position's bytes
                    trades.pop(trade_id, None)
        encoded = orjson.dumps(fresh)  # one call for all: the first save after a start has them all
        body = self._body
        if count:
            body += b","
        body += memoryview(encoded)[1:-1]
        body += b"}"
        self._closed_bytes = bytes(body)
        del body[-1]
        return _STAND_IN
