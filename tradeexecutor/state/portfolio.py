"""The portfolio: positions by status, every trade, reserves and balance updates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeexecutor.state.balance import BalanceUpdate
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.position import Position, PositionStatus
from tradeexecutor.state.trade import Trade
from tradeexecutor.state.values import ZERO, parse_decimal


@dataclass(slots=True)
class Portfolio:
    """Positions are in exactly one of the three maps. `trades` indexes every position's trades by
    id; it is derived (rebuilt on load, kept by the reducer) and not written to JSON."""

    open_positions: dict[int, Position] = field(default_factory=dict)
    closed_positions: dict[int, Position] = field(default_factory=dict)
    frozen_positions: dict[int, Position] = field(default_factory=dict)
    trades: dict[int, Trade] = field(default_factory=dict, repr=False, compare=False)
    reserves: dict[str, Decimal] = field(default_factory=dict)
    balance_updates: list[BalanceUpdate] = field(default_factory=list)
    next_position_id: int = 1
    next_trade_id: int = 1

    def get_position(self, position_id: int) -> Position | None:
        return (
            self.open_positions.get(position_id)
            or self.frozen_positions.get(position_id)
            or self.closed_positions.get(position_id)
        )

    def live_positions(self) -> Iterator[Position]:
        """Open and frozen positions: those that still hold exposure or may do so."""
        yield from self.open_positions.values()
        yield from self.frozen_positions.values()

    def reserve(self, asset: str) -> Decimal:
        return self.reserves.get(asset, ZERO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "open_positions": {str(k): p.to_dict() for k, p in self.open_positions.items()},
            "closed_positions": {str(k): p.to_dict() for k, p in self.closed_positions.items()},
            "frozen_positions": {str(k): p.to_dict() for k, p in self.frozen_positions.items()},
            "reserves": {asset: str(amount) for asset, amount in self.reserves.items()},
            "balance_updates": [u.to_dict() for u in self.balance_updates],
            "next_position_id": self.next_position_id,
            "next_trade_id": self.next_trade_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], kinds: dict[int, PairKind]) -> Portfolio:
        trades: dict[int, Trade] = {}

        def positions(raw: dict[str, Any], status: PositionStatus) -> dict[int, Position]:
            result = {}
            for key, value in raw.items():
                position = Position.from_dict(value, int(key), status, kinds[value["pair_id"]])
                trades.update(position.trades)
                result[int(key)] = position
            return result

        return cls(
            open_positions=positions(data["open_positions"], PositionStatus.open),
            closed_positions=positions(data["closed_positions"], PositionStatus.closed),
            frozen_positions=positions(data["frozen_positions"], PositionStatus.frozen),
            trades=trades,
            reserves={asset: parse_decimal(amount) for asset, amount in data["reserves"].items()},
            balance_updates=[BalanceUpdate.from_dict(u) for u in data["balance_updates"]],
            next_position_id=data["next_position_id"],
            next_trade_id=data["next_trade_id"],
        )
