"""Asking a strategy for its intents in one cycle: the same code live and in `replay --re-decide`."""

from __future__ import annotations

from tradeexecutor.strategy.api import CycleInput
from tradeexecutor.strategy.intents import CancelOrder, ClosePosition, Intent, OrderIntent, Transition
from tradeexecutor.strategy.loader import LoadedStrategy
from tradeexecutor.strategy.readonly import read_only
from tradeexecutor.strategy.sandbox import StrategyCaller, StrategyFailure

#: Intents carried out per cycle unless configured otherwise; the rest are refused.
DEFAULT_MAX_INTENTS_PER_CYCLE = 100


class StrategyError(Exception):
    """The strategy returned something the runner cannot use."""


def _checked(result: object, hook: str, caller: StrategyCaller, cycle: int) -> list[Intent]:
    if result is None:
        return []
    try:
        if not isinstance(result, list | tuple):
            raise StrategyError(f"{hook}() must return a list of intents, not {type(result).__name__}")
        for item in result:
            if not isinstance(item, OrderIntent | ClosePosition | CancelOrder | Transition):
                raise StrategyError(
                    f"{hook}() returned {item!r}, which is not an intent; "
                    "use market_buy/limit_sell/close_position/cancel/machine.go from tradeexecutor.strategy"
                )
    except StrategyError as exc:
        raise StrategyFailure(f"strategy {caller.name} failed in {hook} at cycle {cycle}: {exc}", "result", exc) from None
    return list(result)


def collect_intents(
    strategy: LoadedStrategy,
    cycle_input: CycleInput,
    first_cycle: bool,
    filled: set[int],
    caller: StrategyCaller | None = None,
) -> list[Intent]:
    """`on_start` (first cycle of a process), `on_fill` (trades filled since the last cycle, by id;
    the set is emptied), then `decide`, each through `caller` (see `sandbox.py`): whatever goes
    wrong in the strategy is raised as `StrategyFailure`."""
    if caller is None:
        caller = StrategyCaller(strategy.name)
    cycle, guard = cycle_input.cycle, cycle_input.guard
    intents: list[Intent] = []
    if first_cycle and strategy.on_start is not None:
        result = caller.call("on_start", strategy.on_start, cycle, guard, cycle_input)
        intents.extend(_checked(result, "on_start", caller, cycle))
    if strategy.on_fill is not None and filled:
        trades = cycle_input._state.portfolio.trades
        for trade_id in sorted(filled):
            trade = read_only(trades[trade_id], "trade", guard)
            result = caller.call("on_fill", strategy.on_fill, cycle, guard, cycle_input, trade)
            intents.extend(_checked(result, "on_fill", caller, cycle))
        filled.clear()
    result = caller.call("decide", strategy.decide, cycle, guard, cycle_input)
    if not intents and (result is None or (type(result) in (list, tuple) and not result)):
        return []  # the common case of a cycle without intents, without building lists
    return intents + _checked(result, "decide", caller, cycle)


def cap_intents(intents: list[Intent], limit: int) -> tuple[list[Intent], list[Intent]]:
    """The first `limit` intents, to carry out, and the excess, to refuse."""
    if len(intents) <= limit:
        return intents, []
    return intents[:limit], intents[limit:]
