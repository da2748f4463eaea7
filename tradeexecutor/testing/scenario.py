"""Builders of valid event sequences, shared by tests, benchmarks and users' own tests.

`Scenario` keeps just enough bookkeeping (next ids, clock) to emit events the reducer accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from tradeexecutor.state.events import (
    AssetRegistered,
    CycleCompleted,
    DepositMade,
    Event,
    ExecutorStarted,
    FillReceived,
    MarketObserved,
    OrderSubmitted,
    PairRegistered,
    StateCreated,
    TradePlanned,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.trade import OrderType, Side
from tradeexecutor.state.values import utc


class Scenario:
    """Emits events for a BTC/USDT spot account; `tick()` advances the clock one second."""

    def __init__(
        self,
        start: datetime | None = None,
        executor_id: str = "test",
        step: timedelta | None = None,
        realistic_ids: bool = False,
    ) -> None:
        self.now = start or utc(2026, 1, 1)
        self.step = step or timedelta(seconds=1)
        self.executor_id = executor_id
        self.next_trade_id = 1
        self.next_position_id = 1
        self.cycle = 0
        self.pair_id = 1
        self.realistic_ids = realistic_ids

    def tick(self) -> datetime:
        self.now += self.step
        return self.now

    def setup(self, cash: Decimal = Decimal("1000000")) -> list[Event]:
        at = self.now
        return [
            StateCreated(at, self.executor_id, "USDT"),
            ExecutorStarted(at, "0.1.0", "backtest"),
            AssetRegistered(at, "USDT", 6),
            AssetRegistered(at, "BTC", 8),
            PairRegistered(at, self.pair_id, "BTC/USDT", "BTC", "USDT", "binance", PairKind.spot),
            DepositMade(at, "USDT", cash, "initial deposit"),
        ]

    def trade(
        self,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        position_id: int | None = None,
        fee: Decimal = Decimal("0.1"),
    ) -> list[Event]:
        """A market trade planned, submitted and filled in one go (opens a position if none given)."""
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        if position_id is None:
            position_id = self.next_position_id
            self.next_position_id += 1
        at = self.tick()
        return [
            TradePlanned(
                at,
                trade_id,
                position_id,
                self.pair_id,
                side,
                OrderType.market,
                quantity,
                None,
                f"te-{trade_id}",
            ),
            OrderSubmitted(at, trade_id, f"x{trade_id}"),
            FillReceived(at, trade_id, quantity, price, fee, "USDT", f"f{trade_id}"),
        ]

    def round_trip(self, quantity: Decimal, buy: Decimal, sell: Decimal) -> list[Event]:
        """Open a long position and close it: two trades, one fill each."""
        opening = self.trade(Side.buy, quantity, buy)
        position_id = self.next_position_id - 1
        return opening + self.trade(Side.sell, quantity, sell, position_id)

    def cycle_end(self, price: Decimal) -> list[Event]:
        self.cycle += 1
        at = self.tick()
        return [
            MarketObserved(at, self.pair_id, price, price, price, price, Decimal("1.5")),
            CycleCompleted(at, self.cycle),
        ]

    def cycles(self, count: int, trade_every: int = 20) -> Iterator[Event]:
        """A live-like log: every cycle values the portfolio; every `trade_every` cycles a trade
        opens or closes a position."""
        open_position: int | None = None
        for i in range(count):
            price = Decimal(30000 + (i * 37) % 2000) + Decimal(i % 100) / 100
            if i % trade_every == 0:
                if open_position is None:
                    yield from self.trade(Side.buy, Decimal("0.0125"), price)
                    open_position = self.next_position_id - 1
                else:
                    yield from self.trade(Side.sell, Decimal("0.0125"), price, open_position)
                    open_position = None
            yield from self.cycle_end(price)

    def closed_positions(self, count: int) -> Iterator[Event]:
        """`count` round trips with varied prices, a valuation and cycle after each."""
        for i in range(count):
            buy = Decimal(30000 + (i * 37) % 2000) + Decimal(i % 100) / 100
            sell = buy + Decimal((i * 53) % 400 - 180)
            yield from self.round_trip(Decimal("0.0125"), buy, sell)
            if i % 10 == 9:
                yield from self.cycle_end(sell)
