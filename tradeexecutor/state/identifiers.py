"""Assets and trading pairs, kept once in the state's registry and referred to by id.

Trades and positions hold a `pair_id`; the symbol, base and quote live here only, so a state of
many trades does not repeat them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


@dataclass(slots=True, frozen=True)
class TradingPair:
    """A market on one venue: `BTC/USDT` spot on `binance`, say."""

    id: int
    symbol: str
    base: str
    quote: str
    venue: str
    kind: PairKind

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "symbol": self.symbol,
            "base": self.base,
            "quote": self.quote,
            "venue": self.venue,
            "kind": self.kind.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradingPair:
        return cls(
            id=data["id"],
            symbol=data["symbol"],
            base=data["base"],
            quote=data["quote"],
            venue=data["venue"],
            kind=PairKind(data["kind"]),
        )
