"""Candles from an exchange, one per cycle, for live trading."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import ccxt

from tradeexecutor.market.candles import Candle

#: The network error family: a poll that fails with one of these is tried again.
_TRANSIENT = (ccxt.NetworkError,)


class Health(Protocol):
    """Where the feed reports whether the exchange answers (the venue's outage tracker)."""

    def failed(self, operation: str, exc: BaseException) -> None: ...

    def succeeded(self, operation: str) -> None: ...

    def check(self) -> None:
        """Raise if the exchange has been unreachable for too long."""


class Retry(Protocol):
    """A retry policy (execution/retry.py's `RetryPolicy`)."""

    @property
    def attempts(self) -> int: ...

    def call(self, fn: Callable[[], Any], sleep: Callable[[float], None], retry_after: Any = None) -> Any: ...

    def delay(self, attempt: int, exc: BaseException | None = None, retry_after: Any = None) -> float: ...


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
    again, so cycle timestamps strictly increase and the strategy never sees a bar twice. On a
    resume, `history(after=...)` starts the feed after the last completed cycle's candle, so a
    restart on the same candle waits for the next one instead of running that candle again.
    A poll that fails with a network error is retried, backing off while the exchange stays
    unreachable (reported to `health`, which stops the run after too long an outage); `stop()`
    ends the iteration.
    """

    def __init__(
        self,
        exchange: ccxt.Exchange,
        symbol: str,
        timeframe: str = "1m",
        cycle_duration: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        min_poll: float = 0.05,
        health: Health | None = None,
        retry: Retry | None = None,
        retry_after: Callable[[BaseException], float | None] | None = None,
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.timeframe = timeframe
        self.cycle_duration = cycle_duration
        self.sleep = sleep
        self.min_poll = min_poll
        self.health = health
        self.retry = retry
        self.retry_after = retry_after
        self._stopped = False
        self.last_at: datetime | None = None

    def history(self, limit: int = 200, after: datetime | None = None) -> list[Candle]:
        """Recent closed candles, for strategies' indicators at start-up.

        The exchange's current candle is left out (the first cycle runs on it), unless `after`
        (the candle time of the last completed cycle) says a cycle already ran on it: then it is
        history, and the first cycle waits for a newer candle.
        """
        rows = self._fetch(limit, self.retry)
        candles = [candle_from_ohlcv(row) for row in rows]
        history = candles[:-1]
        if candles and after is not None and candles[-1].at <= after:
            history.append(candles[-1])
        if history:
            self.last_at = history[-1].at
        if after is not None and (self.last_at is None or after > self.last_at):
            self.last_at = after
        return history

    def _fetch(self, limit: int, retry: Retry | None) -> list[list[Any]]:
        def fetch() -> list[list[Any]]:
            rows: list[list[Any]] = self.exchange.fetch_ohlcv(self.symbol, self.timeframe, limit=limit)
            return rows

        return retry.call(fetch, self.sleep, self.retry_after) if retry is not None else fetch()

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
                if self.health is not None:
                    self.health.check()  # an outage elsewhere (orders, balances) may have lasted too long
                yield candle

    def _next_new_candle(self) -> Candle | None:
        """Poll until the exchange has a candle newer than the last one (None once stopped).

        Each poll is one request; failures back off (with the retry policy's delays) and, once
        as many failed in a row as the policy allows attempts, count as an outage."""
        failures = 0
        while not self._stopped:
            try:
                rows = self._fetch(1, None)
            except _TRANSIENT as exc:
                failures += 1
                attempts = self.retry.attempts if self.retry is not None else 1
                if self.health is not None and failures >= attempts:
                    self.health.failed("fetch_ohlcv", exc)
                    self.health.check()
                wait = self.retry.delay(min(failures, 30), exc, self.retry_after) if self.retry is not None else 0.0
                self.sleep(max(wait, self.min_poll))
                continue
            failures = 0
            if self.health is not None:
                self.health.succeeded("fetch_ohlcv")
            if rows:
                candle = candle_from_ohlcv(rows[-1])
                if self.last_at is None or candle.at > self.last_at:
                    self.last_at = candle.at
                    return candle
            if self.health is not None:
                self.health.check()  # an outage elsewhere (orders, balances) may have lasted too long
            self.sleep(self.min_poll)  # no new candle yet
        return None
