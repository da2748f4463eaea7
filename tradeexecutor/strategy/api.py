"""The strategy API: what a strategy module receives each cycle and what it must define.

A strategy is a plain Python module (see `strategies/` for examples) defining:

* `decide(cycle: CycleInput) -> list[Intent]` — required; called once per cycle.
* `PARAMETERS: dict[str, object]` — optional defaults, overridable with `--param NAME=VALUE`.
* `on_start(cycle: CycleInput) -> list[Intent]` — optional; called once before the first cycle
  of a process (also after a restart).
* `on_fill(cycle: CycleInput, trade: Trade) -> list[Intent]` — optional; called for every trade
  that got a fill since the last cycle, before `decide`.

`CycleInput` is read-only: the strategy must not change `state`; it asks for changes by
returning intents (orders, cancels, state machine transitions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradeexecutor.market.candles import Candle
from tradeexecutor.state.identifiers import TradingPair
from tradeexecutor.state.position import Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import FINISHED, Trade


class CandleHistory(Sequence[Candle]):
    """The candles seen so far (oldest first), without copying the list each cycle."""

    __slots__ = ("_candles", "_count", "_closes")

    def __init__(self, candles: list[Candle], closes: list[float] | None = None) -> None:
        self._candles = candles
        self._closes = closes if closes is not None else [float(c.close) for c in candles]
        self._count = 0

    def advance_to(self, count: int) -> None:
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._candles[: self._count][index]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("candle index out of range")
        return self._candles[index]

    def closes(self, count: int) -> list[float]:
        """The last `count` close prices as floats, for indicators (fewer at the start)."""
        end = self._count
        return self._closes[max(0, end - count) : end]


@dataclass(frozen=True, slots=True)
class OrderBookLevel:
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    bids: tuple[OrderBookLevel, ...]
    asks: tuple[OrderBookLevel, ...]


@dataclass(frozen=True, slots=True)
class CycleInput:
    timestamp: datetime
    cycle: int
    state: State
    pair: TradingPair
    candles: CandleHistory
    last_price: Decimal
    order_book: OrderBook | None
    parameters: Mapping[str, Any]

    @property
    def position(self) -> Position | None:
        """The open position on the strategy's pair, if any."""
        for position in self.state.portfolio.open_positions.values():
            if position.pair_id == self.pair.id:
                return position
        return None

    def pending_trades(self) -> list[Trade]:
        """Trades on the strategy's pair that have not finished (submitted or partly filled)."""
        return [
            trade
            for position in self.state.portfolio.live_positions()
            if position.pair_id == self.pair.id
            for trade in position.trades.values()
            if trade.status not in FINISHED
        ]

    @property
    def cash(self) -> Decimal:
        return self.state.cash()
