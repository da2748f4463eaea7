"""The contract between the cycle runner and a venue (the simulator, or ccxt for live trading).

A venue never changes the state: it reports what happened as events through `record`, which the
runner's store applies and logs before the venue acts again. That ordering is what makes a
crash at any point recoverable: an order is in the log before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tradeexecutor.market.candles import Candle
from tradeexecutor.state.events import Event
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Trade

Record = Callable[[Sequence[Event]], None]


class Venue(Protocol):
    name: str

    def on_cycle(self, state: State, candle: Candle, record: Record) -> None:
        """Report what happened to open orders since the last cycle (fills, expiries, cancels)."""

    def submit(self, state: State, trade: Trade, candle: Candle, record: Record) -> None:
        """Send a planned trade; report acceptance, rejection and any immediate fills."""

    def cancel(self, state: State, trade: Trade, candle: Candle, record: Record, reason: str) -> None:
        """Cancel an open order and report it."""
