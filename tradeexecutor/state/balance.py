"""Balance updates: money that enters or leaves a reserve other than through a trade's fills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradeexecutor.state.values import format_time, parse_decimal, parse_time


class BalanceUpdateKind(StrEnum):
    deposit = "deposit"
    withdrawal = "withdrawal"
    fee = "fee"
    funding = "funding"
    correction = "correction"


@dataclass(slots=True, frozen=True)
class BalanceUpdate:
    """A signed change of one reserve: positive adds to it, negative takes from it."""

    id: int
    kind: BalanceUpdateKind
    asset: str
    amount: Decimal
    at: datetime
    position_id: int | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "asset": self.asset,
            "amount": str(self.amount),
            "at": format_time(self.at),
            "position_id": self.position_id,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BalanceUpdate:
        return cls(
            id=data["id"],
            kind=BalanceUpdateKind(data["kind"]),
            asset=data["asset"],
            amount=parse_decimal(data["amount"]),
            at=parse_time(data["at"]),
            position_id=data["position_id"],
            note=data["note"],
        )
