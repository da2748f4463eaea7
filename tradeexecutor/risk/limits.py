"""Risk limits checked on every intent before anything is planned or sent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradeexecutor.state.state import State

_TEN_THOUSAND = Decimal(10000)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """All optional. Values are in the reserve currency; `max_exposure` is a fraction of equity."""

    max_position_value: Decimal | None = None
    max_exposure: Decimal | None = None
    min_order_value: Decimal = Decimal(0)
    max_slippage_bps: Decimal | None = None

    def check(
        self,
        state: State,
        order_value: Decimal,
        increases: bool,
        position_value: Decimal,
        limit_price: Decimal | None,
        last_price: Decimal,
        pending_value: Decimal = Decimal(0),
    ) -> str | None:
        """The reason an order breaks a limit, or None when it is within all of them.

        `position_value` includes the open orders that add to the position, and `pending_value`
        all open orders that add exposure anywhere: an order counts from the moment it is sent.
        """
        if order_value < self.min_order_value:
            return f"order value {order_value:.2f} is below the minimum {self.min_order_value}"
        if limit_price is not None and self.max_slippage_bps is not None:
            distance = abs(limit_price - last_price) / last_price * _TEN_THOUSAND
            if distance > self.max_slippage_bps:
                return f"limit price {limit_price} is {distance:.1f} bps from the last price, above {self.max_slippage_bps}"
        if not increases:
            return None
        if self.max_position_value is not None and position_value + order_value > self.max_position_value:
            return (
                f"position value would be {position_value + order_value:.2f}, "
                f"above the maximum {self.max_position_value}"
            )
        if self.max_exposure is not None:
            equity = state.total_equity()
            exposure = (
                (state.positions_value() + pending_value + order_value) / equity if equity > 0 else Decimal(1)
            )
            if exposure > self.max_exposure:
                return f"exposure would be {exposure:.2%} of equity, above the maximum {self.max_exposure:.2%}"
        return None
