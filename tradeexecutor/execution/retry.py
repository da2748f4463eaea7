"""Retries with exponential backoff and jitter for exchange calls that are safe to repeat.

Reads and cancels are retried; placing an order is never retried here: its fate after a network
error is resolved by looking the order up by its client order id.

Transient means ccxt's `NetworkError` family: `ExchangeNotAvailable` (5xx), `DDoSProtection` and
`RateLimitExceeded` (429/418), `RequestTimeout`, dropped connections and `InvalidNonce`. After a
429 the wait is at least what the exchange's `Retry-After` header asks for.

Two budgets: a number of attempts for calls during the run (a venue that stays down is then an
outage, see `outage.py`), and a wall-time budget for start-up reads (`for_start_up`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import ccxt
import tenacity

T = TypeVar("T")

#: Errors after which the same call may succeed: the network, timeouts, 5xx, rate limits.
TRANSIENT: tuple[type[Exception], ...] = (ccxt.NetworkError,)

#: How long the wait for a `Retry-After` may be (a broken header must not stall the executor).
MAX_RETRY_AFTER = 120.0

RetryAfter = Callable[[BaseException], float | None]


def retry_after_header(exchange: Any) -> RetryAfter:
    """Reads `Retry-After` (seconds) of the exchange's last answer, for rate-limit errors only
    (a dropped connection leaves the previous answer's headers in place)."""

    def seconds(exc: BaseException) -> float | None:
        if not isinstance(exc, ccxt.DDoSProtection):
            return None
        headers = getattr(exchange, "last_response_headers", None)
        if not isinstance(headers, Mapping):
            return None
        for name, value in headers.items():
            if str(name).lower() == "retry-after":
                try:
                    return min(max(float(value), 0.0), MAX_RETRY_AFTER)
                except (TypeError, ValueError):
                    return None
        return None

    return seconds


@dataclass(frozen=True)
class RetryPolicy:
    """`first_delay * factor**n` capped at `max_delay`, plus up to `jitter` of it at random.

    `max_elapsed` (seconds) replaces the attempt count by a time budget: the call is retried
    while the next wait still ends within it.
    """

    attempts: int = 5
    first_delay: float = 0.2
    factor: float = 2.0
    max_delay: float = 5.0
    jitter: float = 0.2
    max_elapsed: float | None = None

    def for_start_up(self, seconds: float) -> RetryPolicy:
        """The same backoff, retried for `seconds` of wall time instead of a number of attempts."""
        return replace(self, max_elapsed=seconds)

    def once(self) -> RetryPolicy:
        """A single attempt (probing a venue already known to be down)."""
        return replace(self, attempts=1, max_elapsed=None)

    def delay(self, attempt: int, exc: BaseException | None = None, retry_after: RetryAfter | None = None) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        base = min(self.first_delay * self.factor ** (attempt - 1), self.max_delay)
        wait = base * (1 + random.uniform(0, self.jitter)) if self.jitter else base
        asked = retry_after(exc) if retry_after is not None and exc is not None else None
        return max(wait, asked) if asked is not None else wait

    def call(
        self,
        fn: Callable[[], T],
        sleep: Callable[[float], None] = time.sleep,
        retry_after: RetryAfter | None = None,
    ) -> T:
        """`fn()`, retried on transient errors; the last error is raised when the budget is spent."""

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            return self.delay(state.attempt_number, exc, retry_after)

        stop: tenacity.stop.stop_base = (
            tenacity.stop_after_attempt(max(self.attempts, 1))
            if self.max_elapsed is None
            else tenacity.stop_before_delay(self.max_elapsed)
        )
        retrying = tenacity.Retrying(
            sleep=sleep,
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception_type(TRANSIENT),
            reraise=True,
        )
        return retrying(fn)
