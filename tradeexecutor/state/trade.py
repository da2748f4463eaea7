"""A trade: one order we place, its status machine and its fills.

The status is an explicit field with validated transitions, never inferred from which timestamps
happen to be set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradeexecutor.state.values import ZERO, format_time, parse_decimal, parse_time


class Side(StrEnum):
    buy = "buy"
    sell = "sell"


class OrderType(StrEnum):
    market = "market"
    limit = "limit"


class TradeStatus(StrEnum):
    planned = "planned"
    submitted = "submitted"
    partially_filled = "partially_filled"
    filled = "filled"
    cancelled = "cancelled"
    rejected = "rejected"
    failed = "failed"
    expired = "expired"
    repaired = "repaired"


#: Which status may follow which. `failed` means the venue call went wrong and the order's fate
#: is not settled: reconciliation may still find it filled or cancelled, or repair closes it.
TRANSITIONS: dict[TradeStatus, frozenset[TradeStatus]] = {
    TradeStatus.planned: frozenset(
        {
            TradeStatus.submitted,
            TradeStatus.rejected,
            TradeStatus.failed,
            TradeStatus.cancelled,
            TradeStatus.repaired,
        }
    ),
    TradeStatus.submitted: frozenset(
        {
            TradeStatus.partially_filled,
            TradeStatus.filled,
            TradeStatus.cancelled,
            TradeStatus.rejected,
            TradeStatus.expired,
            TradeStatus.failed,
            TradeStatus.repaired,
        }
    ),
    TradeStatus.partially_filled: frozenset(
        {
            TradeStatus.partially_filled,
            TradeStatus.filled,
            TradeStatus.cancelled,
            TradeStatus.expired,
            TradeStatus.failed,
            TradeStatus.repaired,
        }
    ),
    TradeStatus.failed: frozenset(
        {
            TradeStatus.submitted,
            TradeStatus.partially_filled,
            TradeStatus.filled,
            TradeStatus.cancelled,
            TradeStatus.rejected,
            TradeStatus.expired,
            TradeStatus.repaired,
        }
    ),
    TradeStatus.filled: frozenset(),
    TradeStatus.cancelled: frozenset(),
    TradeStatus.rejected: frozenset(),
    TradeStatus.expired: frozenset(),
    TradeStatus.repaired: frozenset(),
}

FINISHED = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)


@dataclass(slots=True, frozen=True)
class Fill:
    """One execution of (part of) an order on the venue.

    In JSON a fill is a row `[quantity, price, fee, fee_asset, at, exchange_trade_id]`: trades
    are the bulk of a snapshot and a row keeps each one small (see docs/state.md).
    """

    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str
    at: datetime
    exchange_trade_id: str | None

    def to_row(self) -> list[Any]:
        return [
            str(self.quantity),
            str(self.price),
            str(self.fee),
            self.fee_asset,
            format_time(self.at),
            self.exchange_trade_id,
        ]

    @classmethod
    def from_row(cls, row: list[Any]) -> Fill:
        quantity, price, fee, fee_asset, at, exchange_trade_id = row
        return cls(
            parse_decimal(quantity),
            parse_decimal(price),
            parse_decimal(fee),
            fee_asset,
            parse_time(at),
            exchange_trade_id,
        )


@dataclass(slots=True)
class Trade:
    """An order for `quantity` of a pair's base asset, and what became of it.

    `updated_at` is when the trade entered its current status; the log keeps the full history.
    In JSON a trade sits inside its position's `trades` map under its id, so neither its id nor
    `position_id` nor `pair_id` is repeated in it, and optional fields that are None are left out.
    """

    id: int
    position_id: int
    pair_id: int
    side: Side
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None
    client_order_id: str
    planned_at: datetime
    expires_at: datetime | None = None
    status: TradeStatus = TradeStatus.planned
    exchange_order_id: str | None = None
    updated_at: datetime | None = None
    status_reason: str | None = None
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled_quantity(self) -> Decimal:
        return sum((fill.quantity for fill in self.fills), ZERO)

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled_quantity
        if not filled:
            return None
        return sum((fill.quantity * fill.price for fill in self.fills), ZERO) / filled

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "side": self.side,
            "type": self.order_type,
            "status": self.status,
            "qty": str(self.quantity),
            "client_id": self.client_order_id,
            "planned_at": format_time(self.planned_at),
            "updated_at": format_time(self.updated_at or self.planned_at),
            "fills": [fill.to_row() for fill in self.fills],
        }
        if self.limit_price is not None:
            data["limit"] = str(self.limit_price)
        if self.exchange_order_id is not None:
            data["order_id"] = self.exchange_order_id
        if self.expires_at is not None:
            data["expires_at"] = format_time(self.expires_at)
        if self.status_reason is not None:
            data["reason"] = self.status_reason
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], trade_id: int, position_id: int, pair_id: int) -> Trade:
        limit = data.get("limit")
        expires_at = data.get("expires_at")
        return cls(
            id=trade_id,
            position_id=position_id,
            pair_id=pair_id,
            side=Side(data["side"]),
            order_type=OrderType(data["type"]),
            status=TradeStatus(data["status"]),
            quantity=parse_decimal(data["qty"]),
            limit_price=None if limit is None else parse_decimal(limit),
            client_order_id=data["client_id"],
            exchange_order_id=data.get("order_id"),
            planned_at=parse_time(data["planned_at"]),
            updated_at=parse_time(data["updated_at"]),
            expires_at=None if expires_at is None else parse_time(expires_at),
            status_reason=data.get("reason"),
            fills=[Fill.from_row(row) for row in data["fills"]],
        )
