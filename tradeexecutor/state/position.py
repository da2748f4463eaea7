"""A position: exposure to one pair, built up and reduced by the fills of its trades.

Quantity, average entry price and realised PnL are kept up to date by the reducer from fills; they
are stored so that JavaScript clients can read them without re-deriving anything. A position's
trades live inside it; its id is its key in the portfolio's map, and its status is given by
which map holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.trade import Trade
from tradeexecutor.state.values import ZERO, format_time, parse_decimal, parse_time


class Direction(StrEnum):
    long = "long"
    short = "short"


class PositionStatus(StrEnum):
    open = "open"
    closed = "closed"
    frozen = "frozen"


@dataclass(slots=True)
class Position:
    """Exposure to one pair in one direction, from its opening trade until its quantity is zero.

    `quantity` is the absolute size in the base asset; `direction` gives the sign. For spot pairs
    the base asset is held; for perpetuals only PnL, fees and funding move the quote reserve.

    `dust` is what a spot position still held when its last sell left less than the venue takes
    in one order: the position closed, the remainder moved to the base asset's reserve (it is
    still on the exchange) and is written off at the average entry price in `net_pnl`, since
    equity counts only positions and the reserve currency.
    """

    id: int
    pair_id: int
    kind: PairKind
    direction: Direction
    opened_at: datetime
    status: PositionStatus = PositionStatus.open
    closed_at: datetime | None = None
    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO
    funding_paid: Decimal = ZERO
    mark_price: Decimal | None = None
    frozen_reason: str | None = None
    trades: dict[int, Trade] = field(default_factory=dict)
    dust: Decimal = ZERO

    @property
    def sign(self) -> int:
        return 1 if self.direction is Direction.long else -1

    @property
    def unrealised_pnl(self) -> Decimal:
        """PnL of the open quantity at the last mark price (zero before any valuation)."""
        if self.mark_price is None or not self.quantity:
            return ZERO
        return (self.mark_price - self.average_price) * self.quantity * self.sign

    @property
    def net_pnl(self) -> Decimal:
        """Realised plus unrealised PnL, after fees, funding and the dust written off."""
        pnl = self.realised_pnl + self.unrealised_pnl - self.fees_paid - self.funding_paid
        return pnl - self.dust * self.average_price if self.dust else pnl

    @property
    def value(self) -> Decimal:
        """What the position adds to equity, in the quote asset, at the last mark price."""
        if self.kind is PairKind.spot:
            price = self.mark_price if self.mark_price is not None else self.average_price
            return self.quantity * price
        return self.unrealised_pnl

    def to_dict(self, trades: dict[str, Any] | None = None) -> dict[str, Any]:
        """The position as JSON; `trades`, when given, is its trades map already encoded (the
        store reuses the bytes of finished trades)."""
        data: dict[str, Any] = {
            "pair_id": self.pair_id,
            "direction": self.direction,
            "opened_at": format_time(self.opened_at),
            "qty": str(self.quantity),
            "avg_price": str(self.average_price),
            "realised_pnl": str(self.realised_pnl),
            "fees": str(self.fees_paid),
            "trades": {str(k): t.to_dict() for k, t in self.trades.items()} if trades is None else trades,
        }
        if self.closed_at is not None:
            data["closed_at"] = format_time(self.closed_at)
        if self.kind is PairKind.perpetual:
            data["funding"] = str(self.funding_paid)
        if self.mark_price is not None:
            data["mark_price"] = str(self.mark_price)
        if self.frozen_reason is not None:
            data["frozen_reason"] = self.frozen_reason
        if self.dust:
            data["dust"] = str(self.dust)
        return data

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], position_id: int, status: PositionStatus, kind: PairKind
    ) -> Position:
        pair_id = data["pair_id"]
        closed_at = data.get("closed_at")
        mark_price = data.get("mark_price")
        funding = data.get("funding")
        dust = data.get("dust")
        return cls(
            id=position_id,
            pair_id=pair_id,
            kind=kind,
            direction=Direction(data["direction"]),
            status=status,
            opened_at=parse_time(data["opened_at"]),
            closed_at=None if closed_at is None else parse_time(closed_at),
            quantity=parse_decimal(data["qty"]),
            average_price=parse_decimal(data["avg_price"]),
            realised_pnl=parse_decimal(data["realised_pnl"]),
            fees_paid=parse_decimal(data["fees"]),
            funding_paid=ZERO if funding is None else parse_decimal(funding),
            mark_price=None if mark_price is None else parse_decimal(mark_price),
            frozen_reason=data.get("frozen_reason"),
            trades={
                int(k): Trade.from_dict(t, int(k), position_id, pair_id) for k, t in data["trades"].items()
            },
            dust=ZERO if dust is None else parse_decimal(dust),
        )
