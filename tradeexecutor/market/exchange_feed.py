"""Candles from an exchange, one per cycle, for live trading."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt

from tradeexecutor.market.candles import Candle


def _dec(value: Any) -> Decimal:
    return Decimal(value if isinstance(value, str) else repr(value))


def candle_from_ohlcv(row: list[Any]) -> Candle:
    timestamp, open_, high, low, close, volume = row[:6]
    return Candle(
        datetime.fromtimestamp(timestamp / 1000, UTC), _dec(open_), _dec(high), _dec(low), _dec(close), _dec(volume)
    )


class ExchangeCandleFeed:
    """Yields each new candle of the exchange once, polling every `cycle_duration` seconds.

    A cycle runs per new candle: a poll that finds the same candle as last time waits and polls
    again, so cycle timestamps strictly increase and the strategy never sees a bar twice. A fetch
    that fails with a network error is retried at the next poll; `stop()` ends the iteration.
    """

    def __init__(
        self,
        exchange: ccxt.Exchange,
        symbol: str,
        timeframe: str = "1m",
        cycle_duration: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        min_poll: float = 0.05,
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.cycle_duration = cycle_duration
        self.sleep = sleep
        self.min_poll = min_poll
        self._stopped = False
        self.last_at: datetime | None = None

    def history(self, limit: int = 200) -> list[Candle]:
        """Recent candles before the current one, for strategies' indicators at start-up."""
        rows = self.exchange.fetch_ohlcv(self.symbol, self.timeframe, limit=limit)
        candles = [candle_from_ohlcv(row) for row in rows[:-1]]
        if candles:
            self.last_at = candles[-1].at
        return candles

    def stop(self) -> None:
        self._stopped = True

    def __iter__(self) -> Iterator[Candle]:
        first = True
        while not self._stopped:
            if not first and self.cycle_duration:
                self.sleep(self.cycle_duration)  # pacing between cycles
            first = False
            candle = self._next_new_candle()
            if candle is not None:
                yield candle

    def _next_new_candle(self) -> Candle | None:
        """Poll until the exchange has a candle newer than the last one (None once stopped)."""
        while not self._stopped:
            try:
                rows = self.exchange.fetch_ohlcv(self.symbol, self.timeframe, limit=1)
            except ccxt.NetworkError:
                rows = []
            if rows:
                candle = candle_from_ohlcv(rows[-1])
                if self.last_at is None or candle.at > self.last_at:
                    self.last_at = candle.at
                    return candle
            self.sleep(self.min_poll)  # no new candle yet (or the exchange is unreachable)
        return None
