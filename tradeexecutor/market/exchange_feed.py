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
    """Yields the exchange's latest candle every `cycle_duration` seconds.

    A fetch that fails with a network error is retried at the next tick rather than ending the
    run; `stop()` (or the iterator's consumer stopping) ends it.
    """

    def __init__(
        self,
        exchange: ccxt.Exchange,
        symbol: str,
        timeframe: str = "1m",
        cycle_duration: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        before_fetch: Callable[[], None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.cycle_duration = cycle_duration
        self.sleep = sleep
        self.before_fetch = before_fetch
        self._stopped = False

    def history(self, limit: int = 200) -> list[Candle]:
        """Recent closed candles, for strategies' indicators at start-up."""
        rows = self.exchange.fetch_ohlcv(self.symbol, self.timeframe, limit=limit)
        return [candle_from_ohlcv(row) for row in rows[:-1]]

    def stop(self) -> None:
        self._stopped = True

    def __iter__(self) -> Iterator[Candle]:
        first = True
        while not self._stopped:
            if not first and self.cycle_duration:
                self.sleep(self.cycle_duration)
            first = False
            if self.before_fetch is not None:
                self.before_fetch()
            try:
                rows = self.exchange.fetch_ohlcv(self.symbol, self.timeframe, limit=1)
            except ccxt.NetworkError:
                continue
            if rows:
                yield candle_from_ohlcv(rows[-1])
