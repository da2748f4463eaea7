"""The contract between the cycle runner and a venue (the simulator, or ccxt for live trading).

A venue never changes the state: it reports what happened as events through `record`, which the
runner's store applies and logs before the venue acts again. That ordering is what makes a
crash at any point recoverable: an order is in the log before it is sent.

Every capability the runner uses is declared here; a venue without a use for one implements it
as a no-op (the simulator has nothing to reconcile).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
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

    def recover(self, state: State, record: Record, at: datetime) -> None:
        """At start-up: settle every trade that was under way when the last process stopped."""

    def adopt_open_orders(self, state: State) -> None:
        """After `recover`: carry on with the orders the state says are open on the venue."""

    def reconcile(self, state: State, record: Record, at: datetime) -> list[str]:
        """Compare the state with the venue's books, record every difference; returns them."""
        ...

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """The quantity the venue would accept (rounded down to its amount step)."""
        ...
