"""Buy/sell cycle on one pair: buy a dip with a limit order, sell it at a fee-aware profit target.

The strategy is a state machine whose current state is kept in the executor's `State`
(`state.strategy_states["buy_sell_cycle"]`), so a restarted executor carries on where it was::

    READY_TO_BUY ──place limit buy──► BUYING ──bought──► READY_TO_SELL ──place limit sell──► SELLING
         ▲                              │                      ▲                                │
         └──────── buy expired ─────────┘                      └────────── sell expired ────────┤
         ▲                                                                                      │
         └────────────────────────────────────── sold ──────────────────────────────────────────┘

* READY_TO_BUY: place a limit buy `margin` below the last close, for `allocation` of the cash, that
  expires after `timeout_minutes`; go to BUYING.
* BUYING: the buy filled (the open position holds a quantity and no buy is pending) → READY_TO_SELL;
  the buy finished without a fill (expired, cancelled, rejected or refused) → READY_TO_BUY.
* READY_TO_SELL: place a limit sell of the whole position at the profit target
  `entry * (1 + 2 * fee + margin)`, which pays the fee on both sides and leaves `margin`; it also
  expires after `timeout_minutes`; go to SELLING.
* SELLING: the position is closed → READY_TO_BUY; the sell expired → READY_TO_SELL, to re-price.

Re-pricing: after each expired sell of the same position the margin of the target is multiplied by
`reprice_decay` (0.5 halves it), but never below `min_margin`. The target therefore walks down
toward break-even and stops *above* it: every completed cycle is profitable net of fees. The price
of that guarantee: there is no stop loss, and after a fall the strategy holds the position until
the price comes back to `entry * (1 + 2 * fee + min_margin)`. (The guarantee needs the venue's
fee to be at most `fee`, and `min_margin` above about `2 * fee**2`, 0.0002% at 0.1% a side.) A buy
that was partly filled when it expired is sold like a full one.

Adaptive margin: `margin = clamp(k * stdev(last window close-to-close returns), min_margin,
max_margin)`, rounded to 0.01%: quiet markets get tight orders that fill often, wild ones wide
orders that are worth the wait. Until `window + 1` candles exist the strategy waits. The
volatility is a float estimate; every price and amount is a Decimal (prices at `tick`).

A state reached with nothing to wait for is left in the same cycle (a fill seen at the start of a
cycle is answered by the next order at once), so a cycle records one or two transitions. The
transition is returned before the order it announces: should the process die between the two,
the restarted machine finds no order and places it again, never twice.

Parameters (override with `--param NAME=VALUE`):

* `fee` — fee rate per side assumed by the profit target (0.001 = 0.1%).
* `k` — multiplier of the return volatility.
* `window` — number of close-to-close returns in the volatility estimate.
* `min_margin`, `max_margin` — bounds of the margin (fractions of the price).
* `timeout_minutes` — lifetime of every buy and sell order.
* `allocation` — fraction of the cash put into each buy.
* `reprice_decay` — factor applied to the sell margin after each expired sell (0 < decay ≤ 1).
* `tick` — price step of the orders (0.01; use a finer one for pairs priced below a few dollars).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from tradeexecutor.state.position import Position
from tradeexecutor.state.trade import Side, TradeStatus
from tradeexecutor.strategy.api import CycleInput
from tradeexecutor.strategy.intents import Intent, Transition, close_position, limit_buy
from tradeexecutor.strategy.machine import InvalidTransition, StateMachine
from tradeexecutor.strategy.parameters import Param

PARAMETERS: dict[str, Any] = {
    "fee": Param(Decimal("0.001"), min=Decimal(0), max=Decimal("0.1")),
    "k": Param(Decimal("1.0"), min=Decimal("0.01"), max=Decimal(100)),
    "window": Param(24, min=2, max=10_000),
    "min_margin": Param(Decimal("0.002"), min=Decimal(0), max=Decimal("0.5")),
    "max_margin": Param(Decimal("0.03"), min=Decimal("0.0001"), max=Decimal("0.5")),
    "timeout_minutes": Param(240, min=1),
    "allocation": Param(Decimal("0.5"), min=Decimal("0.01"), max=Decimal(1)),
    "reprice_decay": Param(Decimal("0.5"), min=Decimal("0.01"), max=Decimal(1)),
    "tick": Param(Decimal("0.01"), min=Decimal("0.00000001")),
}


def validate_parameters(parameters: Mapping[str, Any]) -> None:
    """Checked before the run starts: the margin bounds must be in order."""
    if parameters["min_margin"] > parameters["max_margin"]:
        raise ValueError(
            f"min_margin ({parameters['min_margin']}) must not be above max_margin ({parameters['max_margin']})"
        )


READY_TO_BUY = "READY_TO_BUY"
BUYING = "BUYING"
READY_TO_SELL = "READY_TO_SELL"
SELLING = "SELLING"

MACHINE = StateMachine(
    "buy_sell_cycle",
    READY_TO_BUY,
    {
        READY_TO_BUY: [BUYING],
        BUYING: [READY_TO_SELL, READY_TO_BUY],
        READY_TO_SELL: [SELLING],
        SELLING: [READY_TO_BUY, READY_TO_SELL],
    },
)

CENT = Decimal("0.01")
MARGIN_STEP = Decimal("0.0001")


# --- pricing --------------------------------------------------------------------------------------


def volatility_margin(closes: list[float], parameters: Mapping[str, Any]) -> Decimal | None:
    """`clamp(k * stdev(returns), min_margin, max_margin)` over the last `window` returns, or None
    while there are fewer than `window + 1` closes."""
    window = int(parameters["window"])
    if window < 2:
        raise ValueError(f"window must be at least 2 returns, got {window}")
    if len(closes) < window + 1:
        return None
    recent = closes[-(window + 1) :]
    returns = [after / before - 1.0 for before, after in zip(recent, recent[1:], strict=False)]
    raw = float(parameters["k"]) * statistics.stdev(returns)
    margin = Decimal(f"{raw:.10f}").quantize(MARGIN_STEP, rounding=ROUND_UP)
    low, high = Decimal(parameters["min_margin"]), Decimal(parameters["max_margin"])
    return min(max(margin, low), high)


def buy_price(last_price: Decimal, margin: Decimal, tick: Decimal = CENT) -> Decimal:
    """The limit of the buy: `margin` below the last price, rounded down to the tick."""
    return (last_price * (1 - margin)).quantize(tick, rounding=ROUND_DOWN)


def sell_target(entry: Decimal, fee: Decimal, margin: Decimal, tick: Decimal = CENT) -> Decimal:
    """The limit of the sell: `entry * (1 + 2 * fee + margin)`, rounded up to the tick (so the
    rounding never eats into the margin)."""
    return (entry * (1 + 2 * fee + margin)).quantize(tick, rounding=ROUND_UP)


def sell_margin(margin: Decimal, expired_sells: int, parameters: Mapping[str, Any]) -> Decimal:
    """The margin after `expired_sells` timeouts: decayed geometrically, floored at `min_margin`."""
    decayed = margin * Decimal(parameters["reprice_decay"]) ** expired_sells
    return max(decayed.quantize(MARGIN_STEP, rounding=ROUND_UP), Decimal(parameters["min_margin"]))


# --- reading the state ----------------------------------------------------------------------------


def _pending(cycle: CycleInput, side: Side) -> bool:
    return any(trade.side is side for trade in cycle.pending_trades())


def _holding(cycle: CycleInput) -> Position | None:
    """The open position on the pair when it holds more than dust (a live exchange taking buy fees
    in the base asset leaves a remainder too small to sell; it does not count as holding)."""
    return cycle.holding()


def _expired_sells(position: Position) -> int:
    return sum(
        1
        for trade in position.trades.values()
        if trade.side is Side.sell and trade.status is TradeStatus.expired
    )


# --- the machine ----------------------------------------------------------------------------------


def _ready_to_buy(cycle: CycleInput, margin: Decimal) -> tuple[str | None, list[Intent]]:
    if _holding(cycle) is not None or _pending(cycle, Side.buy):
        return BUYING, []  # something bought already (or on its way): BUYING takes it from there
    parameters = cycle.parameters
    value = (cycle.cash * Decimal(parameters["allocation"])).quantize(CENT, rounding=ROUND_DOWN)
    price = buy_price(cycle.last_price, margin, Decimal(parameters["tick"]))
    if value <= 0 or price <= 0:
        return None, []  # no cash to spend (or a tick too coarse for the price): wait
    timeout = timedelta(minutes=int(parameters["timeout_minutes"]))
    return BUYING, [limit_buy(price, value=value, timeout=timeout)]


def _buying(cycle: CycleInput, margin: Decimal) -> tuple[str | None, list[Intent]]:
    if _pending(cycle, Side.buy):
        return None, []
    return (READY_TO_SELL if _holding(cycle) is not None else READY_TO_BUY), []


def _ready_to_sell(cycle: CycleInput, margin: Decimal) -> tuple[str | None, list[Intent]]:
    position = _holding(cycle)
    if position is None or _pending(cycle, Side.sell):
        return SELLING, []  # nothing to sell, or a sell already out: SELLING sorts it out
    parameters = cycle.parameters
    fee, tick = Decimal(parameters["fee"]), Decimal(parameters["tick"])
    margin = sell_margin(margin, _expired_sells(position), parameters)
    target = sell_target(position.average_price, fee, margin, tick)
    timeout = timedelta(minutes=int(parameters["timeout_minutes"]))
    return SELLING, [close_position(position.id, limit_price=target, timeout=timeout)]


def _selling(cycle: CycleInput, margin: Decimal) -> tuple[str | None, list[Intent]]:
    if _pending(cycle, Side.sell):
        return None, []
    return (READY_TO_SELL if _holding(cycle) is not None else READY_TO_BUY), []


_HANDLERS: dict[str, Callable[[CycleInput, Decimal], tuple[str | None, list[Intent]]]] = {
    READY_TO_BUY: _ready_to_buy,
    BUYING: _buying,
    READY_TO_SELL: _ready_to_sell,
    SELLING: _selling,
}


def _transition(cycle: CycleInput, done: list[Transition], target: str) -> Transition:
    """The next transition, from the recorded state or from the one this cycle reached."""
    if not done:
        return MACHINE.go(cycle.state, target)
    source = done[-1].to_state
    if target not in MACHINE.transitions.get(source, frozenset()):
        raise InvalidTransition(f"{MACHINE.name}: {source} -> {target} is not allowed")
    return Transition(MACHINE.name, source, target)


def decide(cycle: CycleInput) -> list[Intent]:
    margin = volatility_margin(cycle.candles.closes(int(cycle.parameters["window"]) + 1), cycle.parameters)
    if margin is None:
        return []  # not enough history for the volatility estimate yet
    intents: list[Intent] = []
    transitions: list[Transition] = []
    current = MACHINE.current(cycle.state)
    # Each step either waits (None) or moves on; an order always ends the cycle's walk, because
    # its outcome is only known in a later cycle. Two orders per cycle are therefore impossible.
    for _ in range(len(MACHINE.states)):
        target, orders = _HANDLERS[current](cycle, margin)
        if target is None:
            break
        transition = _transition(cycle, transitions, target)
        transitions.append(transition)
        intents.append(transition)
        intents.extend(orders)
        current = target
        if orders:
            break
    return intents
