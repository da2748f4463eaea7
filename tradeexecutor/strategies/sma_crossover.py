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
    candles = cycle.candles
    fast_n, slow_n = cycle.parameters["fast"], cycle.parameters["slow"]
    slow_before = candles.sma(slow_n, ago=1)
    if slow_before is None:
        return []
    fast_now, slow_now = candles.sma(fast_n), candles.sma(slow_n)
    fast_before = candles.sma(fast_n, ago=1)
    assert fast_now is not None and slow_now is not None and fast_before is not None
    if fast_before <= slow_before and fast_now > slow_now:
        if cycle.holding() is None and not cycle.pending_trades():
            return [market_buy(value=(cycle.cash * cycle.parameters["allocation"]).quantize(Decimal("0.01")))]
    elif fast_before >= slow_before and fast_now < slow_now:
        if cycle.holding() is not None:
            return [close_position()]
    return []
