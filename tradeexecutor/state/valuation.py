"""Valuation points: the portfolio's equity at the end of each cycle (the equity curve)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradeexecutor.state.values import format_time, parse_decimal, parse_time


@dataclass(slots=True)
class ValuationPoint:
    """Equity = cash in the reserve currency + value of live positions at their mark prices."""

    at: datetime
    cycle: int
    equity: Decimal
    cash: Decimal
    positions_value: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_time(self.at),
            "cycle": self.cycle,
            "equity": str(self.equity),
            "cash": str(self.cash),
            "positions_value": str(self.positions_value),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValuationPoint:
        return cls(
            at=parse_time(data["at"]),
            cycle=data["cycle"],
            equity=parse_decimal(data["equity"]),
            cash=parse_decimal(data["cash"]),
            positions_value=parse_decimal(data["positions_value"]),
        )
