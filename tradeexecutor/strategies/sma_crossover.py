"""SMA crossover, long only: buy when the fast average crosses above the slow one, sell when it
crosses back below. The embedded default strategy of `trade-executor start`.

Copy this file to start your own strategy; see tradeexecutor/strategy/api.py for the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tradeexecutor.strategy.api import CycleInput
from tradeexecutor.strategy.intents import Intent, close_position, market_buy
from tradeexecutor.strategy.parameters import Param

PARAMETERS = {
    "fast": Param(10, min=1, help="bars in the fast moving average"),
    "slow": Param(20, min=2, help="bars in the slow moving average (more than fast)"),
    # Fraction of the cash to put into each entry (the rest stays in reserve for fees).
    "allocation": Param(Decimal("0.99"), min=Decimal("0.01"), max=Decimal(1), help="fraction of the cash per entry"),
}


def validate_parameters(parameters: Mapping[str, Any]) -> None:
    """Checked before the run starts: the fast average must be the shorter one."""
    if parameters["fast"] >= parameters["slow"]:
        raise ValueError(f"fast ({parameters['fast']}) must be less than slow ({parameters['slow']})")


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
