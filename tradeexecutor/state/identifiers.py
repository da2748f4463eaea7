"""Assets and trading pairs, kept once in the state's registry and referred to by id.

Trades and positions hold a `pair_id`; the symbol, base and quote live here only, so a state of
many trades does not repeat them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradeexecutor.state.values import parse_decimal


class PairKind(StrEnum):
    """Spot pairs move the base asset; perpetuals settle PnL in the quote asset only."""

    spot = "spot"
    perpetual = "perpetual"


@dataclass(slots=True, frozen=True)
class Asset:
    """A currency or token, identified by its ticker (`BTC`, `USDT`)."""

    id: str
    decimals: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "decimals": self.decimals}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Asset:
        return cls(id=data["id"], decimals=data["decimals"])


#: The venue's trading rules a pair may carry (`pair_rules_recorded`); None when not known.
RULES = ("lot_size", "min_quantity", "min_notional")


@dataclass(slots=True, frozen=True)
class TradingPair:
    """A market on one venue: `BTC/USDT` spot on `binance`, say.

    The trading rules are the venue's, when known: `lot_size` is the quantity step, `min_quantity`
    the smallest order, `min_notional` the smallest order value in the quote asset.
    """

    id: int
    symbol: str
    base: str
    quote: str
    venue: str
    kind: PairKind
    lot_size: Decimal | None = None
    min_quantity: Decimal | None = None
    min_notional: Decimal | None = None

    def is_dust(self, quantity: Decimal, price: Decimal, base_decimals: int) -> bool:
        """Whether a non-zero `quantity` is too small for the venue to take in one order at `price`:
        below the lot size (one unit of the last decimal place of the base asset when the venue's is
        not known), the minimum quantity, or the minimum order value."""
        if not quantity:
            return False
        lot = self.lot_size if self.lot_size is not None else Decimal(1).scaleb(-base_decimals)
        if quantity < lot:
            return True
        if self.min_quantity is not None and quantity < self.min_quantity:
            return True
        return self.min_notional is not None and quantity * price < self.min_notional

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "venue": self.venue,
            "kind": self.kind.value,
        }
        for name in RULES:
            value = getattr(self, name)
            if value is not None:
                data[name] = str(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradingPair:
        rules = {name: parse_decimal(data[name]) for name in RULES if data.get(name) is not None}
        return cls(
            id=data["id"],
            symbol=data["symbol"],
            base=data["base"],
            quote=data["quote"],
            venue=data["venue"],
            kind=PairKind(data["kind"]),
            **rules,
        )
