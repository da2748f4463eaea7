"""The portfolio: positions by status, every trade, reserves and balance updates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradeexecutor.state.balance import BalanceUpdate
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.position import Position, PositionStatus
from tradeexecutor.state.trade import Trade
from tradeexecutor.state.values import ZERO, parse_decimal

#: Encodes one of the portfolio's position maps (open, closed or frozen, named by the status) to
#: what stands for it in JSON: the store passes one that reuses the bytes of closed positions.
PositionsEncoder = Callable[[PositionStatus, dict[int, Position]], Any]


def encode_positions(status: PositionStatus, positions: dict[int, Position]) -> dict[str, Any]:
    """The plain encoding of a position map: every position encoded afresh."""
    return {str(k): p.to_dict() for k, p in positions.items()}


@dataclass(slots=True)
class Portfolio:
    """Positions are in exactly one of the three maps. `trades` indexes every position's trades by
    id; it is derived (rebuilt on load, kept by the reducer) and not written to JSON.

    Closed positions and finished trades never change, so encoders may keep their encoded form.
    `history_revision` (not written either) is moved by any handler that changes one of them in
    place all the same (a repair): whoever kept encoded history drops it when it moves."""

    open_positions: dict[int, Position] = field(default_factory=dict)
    closed_positions: dict[int, Position] = field(default_factory=dict)
    frozen_positions: dict[int, Position] = field(default_factory=dict)
    trades: dict[int, Trade] = field(default_factory=dict, repr=False, compare=False)
    reserves: dict[str, Decimal] = field(default_factory=dict)
    balance_updates: list[BalanceUpdate] = field(default_factory=list)
    next_position_id: int = 1
    next_trade_id: int = 1
    history_revision: int = field(default=0, repr=False, compare=False)

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

    def to_dict(self, positions: PositionsEncoder = encode_positions) -> dict[str, Any]:
        return {
            "open_positions": positions(PositionStatus.open, self.open_positions),
            "closed_positions": positions(PositionStatus.closed, self.closed_positions),
            "frozen_positions": positions(PositionStatus.frozen, self.frozen_positions),
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
