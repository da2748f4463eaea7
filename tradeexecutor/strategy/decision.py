"""Asking a strategy for its intents in one cycle: the same code live and in `replay --re-decide`."""

from __future__ import annotations

from tradeexecutor.strategy.api import CycleInput
from tradeexecutor.strategy.intents import CancelOrder, ClosePosition, Intent, OrderIntent, Transition
from tradeexecutor.strategy.loader import LoadedStrategy


class StrategyError(Exception):
    """The strategy returned something the runner cannot use."""


def _checked(result: object, hook: str) -> list[Intent]:
    if result is None:
        return []
    if not isinstance(result, list | tuple):
        raise StrategyError(f"{hook}() must return a list of intents, not {type(result).__name__}")
    for item in result:
        if not isinstance(item, OrderIntent | ClosePosition | CancelOrder | Transition):
            raise StrategyError(
                f"{hook}() returned {item!r}, which is not an intent; "
                "use market_buy/limit_sell/close_position/cancel/machine.go from tradeexecutor.strategy"
            )
    return list(result)


def collect_intents(
    strategy: LoadedStrategy, cycle_input: CycleInput, first_cycle: bool, filled: set[int]
) -> list[Intent]:
    """`on_start` (first cycle of a process), `on_fill` (trades filled since the last cycle, by id;
    the set is emptied), then `decide`."""
    intents: list[Intent] = []
    if first_cycle and strategy.on_start is not None:
        intents.extend(_checked(strategy.on_start(cycle_input), "on_start"))
    if strategy.on_fill is not None and filled:
        trades = cycle_input.state.portfolio.trades
        for trade_id in sorted(filled):
            intents.extend(_checked(strategy.on_fill(cycle_input, trades[trade_id]), "on_fill"))
        filled.clear()
    result = strategy.decide(cycle_input)
    if not intents and (result is None or (type(result) in (list, tuple) and not result)):
        return []  # the common case of a cycle without intents, without building lists
    return intents + _checked(result, "decide")
