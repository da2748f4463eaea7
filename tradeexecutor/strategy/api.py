"""The strategy API: what a strategy module receives each cycle and what it must define.

A strategy is a plain Python module (see `tradeexecutor/strategies/` for examples) defining:

* `decide(cycle: CycleInput) -> list[Intent]` — required; called once per cycle.
* `PARAMETERS: dict[str, object]` — optional defaults, overridable with `--param NAME=VALUE`.
* `on_start(cycle: CycleInput) -> list[Intent]` — optional; called once before the first cycle
  of a process (also after a restart).
* `on_fill(cycle: CycleInput, trade: Trade) -> list[Intent]` — optional; called for every trade
  that got a fill since the last cycle, before `decide`.

`CycleInput.state` is a read-only view: a strategy that tries to change the state is stopped
with a `strategy_failed` event; it asks for changes by returning intents (orders, cancels, state
machine transitions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from tradeexecutor.market.candles import Candle
from tradeexecutor.state.identifiers import TradingPair
from tradeexecutor.state.position import Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import FINISHED, Trade
from tradeexecutor.strategy.readonly import MutationGuard, read_only

T = TypeVar("T")


class CandleHistory(Sequence[Candle]):
    """The candles seen so far (oldest first), without copying the list each cycle.

    Indicators are computed incrementally and exactly: `sma(n)` keeps a Decimal running sum, so
    the value at a bar depends only on the bars up to it (no look-ahead, no float drift).
    """

    __slots__ = ("_candles", "_count", "_closes", "_sma")

    def __init__(self, candles: Sequence[Candle] = ()) -> None:
        self._candles: list[Candle] = list(candles)
        self._closes = [float(c.close) for c in self._candles]
        self._count = len(self._candles)
        self._sma: dict[int, tuple[list[float | None], list[Decimal]]] = {}

    def append(self, candle: Candle) -> None:
        """A newly observed candle becomes the latest one."""
        self._candles.append(candle)
        self._closes.append(float(candle.close))
        self._count += 1

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

    def sma(self, period: int, ago: int = 0) -> float | None:
        """Simple moving average of the close over `period` bars, `ago` bars back (None early on)."""
        cached = self._sma.get(period)
        if cached is None or len(cached[0]) < self._count:
            cached = self._extend_sma(period)
        position = self._count - 1 - ago
        return cached[0][position] if position >= 0 else None

    def _extend_sma(self, period: int) -> tuple[list[float | None], list[Decimal]]:
        if period < 1:
            raise ValueError(f"sma period must be at least 1, got {period}")
        cached = self._sma.get(period)
        if cached is None:
            cached = self._sma[period] = ([], [Decimal(0)])
        values, running = cached
        candles = self._candles
        total = running[0]
        for index in range(len(values), self._count):
            total += candles[index].close
            if index >= period:
                total -= candles[index - period].close
            # The sum is exact (Decimal); one rounding to float, then one float division.
            values.append(float(total) / period if index >= period - 1 else None)
        running[0] = total
        return cached

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


class CycleInput:
    """What a strategy sees in one cycle. `state` is a read-only view (see `readonly.py`): a
    strategy that tries to change it is stopped; it asks for changes by returning intents."""

    __slots__ = ("timestamp", "cycle", "_state", "pair", "candles", "last_price", "order_book", "parameters", "guard")

    def __init__(
        self,
        timestamp: datetime,
        cycle: int,
        state: State,
        pair: TradingPair,
        candles: CandleHistory,
        last_price: Decimal,
        order_book: OrderBook | None,
        parameters: Mapping[str, Any],
    ) -> None:
        self.timestamp = timestamp
        self.cycle = cycle
        self._state = state
        self.pair = pair
        self.candles = candles
        self.last_price = last_price
        self.order_book = order_book
        self.parameters = parameters
        #: Notes the first write the strategy attempts on the state (the runner stops the run).
        self.guard = MutationGuard()

    @property
    def state(self) -> State:
        """The state as of this cycle, read only (typed as `State` for the strategy's editor)."""
        view: State = read_only(self._state, "state", self.guard)
        return view

    def _position(self) -> Position | None:
        for position in self._state.portfolio.open_positions.values():
            if position.pair_id == self.pair.id:
                return position
        return None

    @property
    def position(self) -> Position | None:
        """The open position on the strategy's pair, if any."""
        position = self._position()
        return None if position is None else self._view(position, "position")

    def holding(self, min_value: Decimal | None = None) -> Position | None:
        """The open position if it holds more than dust, else None.

        Dust is what the venue will not take in one order: less than its lot size or minimum
        quantity, or worth less than `min_value` at the last price (by default the venue's minimum
        order value when the pair records one, else one quote unit). A strategy that counted dust
        as holding would try to sell it, be refused every time, and never buy again; a buy adds to
        the dust instead, and the next close sells it all.
        """
        position = self._position()
        if position is None:
            return None
        state = self._state
        pair = state.pairs.get(self.pair.id, self.pair)  # the rules may be newer than `pair`
        asset = state.assets.get(pair.base)
        if pair.is_dust(position.quantity, self.last_price, asset.decimals if asset is not None else 8):
            return None
        floor = min_value if min_value is not None else (pair.min_notional or Decimal(1))
        if position.quantity * self.last_price < floor:
            return None
        return self._view(position, "position")

    def pending_trades(self) -> list[Trade]:
        """Trades on the strategy's pair that have not finished (submitted or partly filled)."""
        return [
            self._view(trade, f"trade[{trade.id}]")
            for position in self._state.portfolio.live_positions()
            if position.pair_id == self.pair.id
            for trade in position.trades.values()
            if trade.status not in FINISHED
        ]

    @property
    def cash(self) -> Decimal:
        return self._state.cash()

    def _view(self, value: T, path: str) -> T:
        view: T = read_only(value, path, self.guard)
        return view
