"""Order intents: what a strategy asks for. The runner turns them into planned trades.

Each intent has a canonical one-line `describe()` text; the runner records the texts of a cycle's
intents in a `strategy_decided` event, and `replay --re-decide` compares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from tradeexecutor.state.trade import Side


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """Buy or sell on the strategy's pair, sized by `quantity` (base asset) or by `value` (quote).

    A limit order has `limit_price` and may have a `timeout` after which it is cancelled.
    """

    side: Side
    quantity: Decimal | None = None
    value: Decimal | None = None
    limit_price: Decimal | None = None
    timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.value is None):
            raise ValueError("an order intent needs exactly one of quantity= or value=")
        for name in ("quantity", "value", "limit_price"):
            amount = getattr(self, name)
            if amount is not None and (not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0):
                raise ValueError(f"{name} must be a positive Decimal, got {amount!r}")
        if self.timeout is not None and self.limit_price is None:
            raise ValueError("timeout= only applies to limit orders (give limit_price=)")

    def describe(self) -> str:
        size = f"quantity={self.quantity}" if self.quantity is not None else f"value={self.value}"
        text = f"{'limit' if self.limit_price is not None else 'market'} {self.side.value} {size}"
        if self.limit_price is not None:
            text += f" limit={self.limit_price}"
        if self.timeout is not None:
            text += f" timeout={int(self.timeout.total_seconds())}s"
        return text


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Close the open position on the strategy's pair (or `position_id`), at market or a limit."""

    position_id: int | None = None
    limit_price: Decimal | None = None
    timeout: timedelta | None = None

    def describe(self) -> str:
        text = "close" + (f" position={self.position_id}" if self.position_id is not None else "")
        if self.limit_price is not None:
            text += f" limit={self.limit_price}"
        if self.timeout is not None:
            text += f" timeout={int(self.timeout.total_seconds())}s"
        return text


@dataclass(frozen=True, slots=True)
class CancelOrder:
    trade_id: int

    def describe(self) -> str:
        return f"cancel trade={self.trade_id}"


@dataclass(frozen=True, slots=True)
class Transition:
    """Move a strategy state machine; produced by `StateMachine.go`, recorded as an event."""

    machine: str
    from_state: str | None
    to_state: str

    def describe(self) -> str:
        return f"transition {self.machine}: {self.from_state} -> {self.to_state}"


Intent = OrderIntent | ClosePosition | CancelOrder | Transition


def market_buy(quantity: Decimal | None = None, value: Decimal | None = None) -> OrderIntent:
    return OrderIntent(Side.buy, quantity=quantity, value=value)


def market_sell(quantity: Decimal | None = None, value: Decimal | None = None) -> OrderIntent:
    return OrderIntent(Side.sell, quantity=quantity, value=value)


def limit_buy(
    price: Decimal, quantity: Decimal | None = None, value: Decimal | None = None, timeout: timedelta | None = None
) -> OrderIntent:
    return OrderIntent(Side.buy, quantity=quantity, value=value, limit_price=price, timeout=timeout)


def limit_sell(
    price: Decimal, quantity: Decimal | None = None, value: Decimal | None = None, timeout: timedelta | None = None
) -> OrderIntent:
    return OrderIntent(Side.sell, quantity=quantity, value=value, limit_price=price, timeout=timeout)


def close_position(
    position_id: int | None = None, limit_price: Decimal | None = None, timeout: timedelta | None = None
) -> ClosePosition:
    return ClosePosition(position_id, limit_price, timeout)


def cancel(trade_id: int) -> CancelOrder:
    return CancelOrder(trade_id)
