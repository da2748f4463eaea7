"""Retries with exponential backoff for exchange calls that are safe to repeat (reads, cancels).

Placing an order is never retried here: its fate after a network error is resolved by looking
the order up by its client order id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ccxt

T = TypeVar("T")

#: Errors after which the same call may succeed: the network, timeouts, 5xx, rate limits.
TRANSIENT = (ccxt.NetworkError,)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_delay: float = 0.2
    factor: float = 2.0
    max_delay: float = 5.0

    def call(self, fn: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except TRANSIENT:
                if attempt == self.attempts:
                    raise
                sleep(delay)
                delay = min(delay * self.factor, self.max_delay)
        raise AssertionError("unreachable")
