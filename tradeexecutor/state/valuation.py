"""Valuation points (the portfolio's equity at the end of each cycle) and the state's summary of them.

The curve itself grows with every cycle, so it does not live in `State` (whose snapshot must grow
with positions and trades, not with time): the store writes each point to the equity file beside
the log (`store/equity.py`). The state keeps `EquitySummary`: the number of points, the first time,
the last point, the peak and the deepest drawdown so far. The reducer updates it point by point, so
replaying the log gives the same summary byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from tradeexecutor.state.values import (
    ZERO,
    format_optional_time,
    format_time,
    parse_decimal,
    parse_optional_time,
    parse_time,
)

#: Drawdown fractions are divided in this context (the reducer's), so every reader agrees.
_DRAWDOWN_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)


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


@dataclass(slots=True)
class EquitySummary:
    """What the state keeps of the equity curve: constant size whatever the number of cycles.

    `max_drawdown` is the deepest fall from a running peak as a fraction of that peak (0.25 is a
    25 % fall), over every point in the order recorded; `peak_equity` is the highest equity seen.
    Both are exact decimals (divided with 28 digits, half-even).
    """

    points: int = 0
    first_at: datetime | None = None
    last: ValuationPoint | None = None
    peak_equity: Decimal | None = None
    max_drawdown: Decimal = ZERO

    def add(self, point: ValuationPoint) -> None:
        """Count one more point of the curve (the reducer's only write)."""
        self.points += 1
        if self.first_at is None:
            self.first_at = point.at
        self.last = point
        equity = point.equity
        peak = self.peak_equity
        if peak is None or equity > peak:
            self.peak_equity = equity
        elif peak > 0 and equity < peak:
            drawdown = _DRAWDOWN_CONTEXT.divide(peak - equity, peak)
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown

    @property
    def last_at(self) -> datetime | None:
        return self.last.at if self.last is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "first_at": format_optional_time(self.first_at),
            "last": self.last.to_dict() if self.last is not None else None,
            "peak_equity": str(self.peak_equity) if self.peak_equity is not None else None,
            "max_drawdown": str(self.max_drawdown),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EquitySummary:
        last = data["last"]
        peak = data["peak_equity"]
        return cls(
            points=data["points"],
            first_at=parse_optional_time(data["first_at"]),
            last=ValuationPoint.from_dict(last) if last is not None else None,
            peak_equity=parse_decimal(peak) if peak is not None else None,
            max_drawdown=parse_decimal(data["max_drawdown"]),
        )

    @classmethod
    def of(cls, points: list[ValuationPoint]) -> EquitySummary:
        """The summary of a whole curve (what the reducer would have built point by point)."""
        summary = cls()
        for point in points:
            summary.add(point)
        return summary
