"""SMA crossover, long only: buy when the fast average crosses above the slow one, sell when it
crosses back below. The embedded default strategy of `trade-executor start`.

Copy this file to start your own strategy; see tradeexecutor/strategy/api.py for the contract.
"""

from __future__ import annotations

from decimal import Decimal

from tradeexecutor.strategy.api import CycleInput
from tradeexecutor.strategy.intents import Intent, close_position, market_buy

PARAMETERS = {
    "fast": 10,
    "slow": 20,
    # Fraction of the cash to put into each entry (the rest stays in reserve for fees).
    "allocation": Decimal("0.99"),
}


def decide(cycle: CycleInput) -> list[Intent]:
    fast_n, slow_n = cycle.parameters["fast"], cycle.parameters["slow"]
    closes = cycle.candles.closes(slow_n + 1)
    if len(closes) < slow_n + 1:
        return []
    fast_now = sum(closes[-fast_n:]) / fast_n
    slow_now = sum(closes[-slow_n:]) / slow_n
    fast_before = sum(closes[-fast_n - 1 : -1]) / fast_n
    slow_before = sum(closes[-slow_n - 1 : -1]) / slow_n
    position = cycle.position
    if fast_before <= slow_before and fast_now > slow_now and position is None and not cycle.pending_trades():
        return [market_buy(value=(cycle.cash * cycle.parameters["allocation"]).quantize(Decimal("0.01")))]
    if fast_before >= slow_before and fast_now < slow_now and position is not None and position.quantity:
        return [close_position()]
    return []
