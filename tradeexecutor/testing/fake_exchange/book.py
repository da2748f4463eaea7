"""Market definitions and the synthetic order book around the candle price.

Why: ccxt derives precision and limits from Binance's exchangeInfo filters, and a
finite-depth book lets tests see market orders walk several price levels or run
out of liquidity (partial fills), just like on a real exchange.

The book is regenerated from the current candle: best bid/ask sit around the
close (one tick apart, or ``spread_bps`` apart), further levels step away by
``level_step_ticks`` ticks, and every level holds ``level_qty`` (or a fraction of
the candle volume). Liquidity taken by market orders is used up until the next
candle. Resting orders of users are not shown in the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from .decimals import CTX, ceil_to, floor_to, fmt

__all__ = ["BookConfig", "BookLevel", "MarketSpec", "SyntheticBook"]

Side = Literal["BUY", "SELL"]


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One spot market and its Binance filters (defaults match a BTC/USDT-like pair)."""

    base: str
    quote: str
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")

    @classmethod
    def from_symbol(cls, symbol: str, **overrides: Any) -> MarketSpec:
        """Build from ``"BTC/USDT"``; keyword overrides change the filters."""
        base, sep, quote = symbol.partition("/")
        if not sep or not base or not quote:
            raise ValueError(f"symbol must look like BASE/QUOTE, got {symbol!r}")
        converted = {k: Decimal(str(v)) for k, v in overrides.items()}
        return cls(base=base.upper(), quote=quote.upper(), **converted)

    @property
    def symbol(self) -> str:
        """Unified ccxt symbol, e.g. ``BTC/USDT``."""
        return f"{self.base}/{self.quote}"

    @property
    def market_id(self) -> str:
        """Binance symbol id, e.g. ``BTCUSDT``."""
        return f"{self.base}{self.quote}"

    def exchange_info(self) -> dict[str, Any]:
        """The ``symbols[]`` entry of /api/v3/exchangeInfo."""
        return {
            "symbol": self.market_id,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


@dataclass(frozen=True, slots=True)
class BookConfig:
    """Shape of the synthetic book.

    ``spread_bps`` None means a one-tick spread. ``level_qty`` None means each level
    holds ``level_volume_fraction`` of the current candle's volume (at least one lot).
    """

    levels: int = 5
    spread_bps: Decimal | None = None
    level_step_ticks: int = 1
    level_qty: Decimal | None = None
    level_volume_fraction: Decimal = Decimal("0.02")

    def __post_init__(self) -> None:
        if self.levels < 1 or self.level_step_ticks < 1:
            raise ValueError("levels and level_step_ticks must be >= 1")


@dataclass(slots=True)
class BookLevel:
    """A price level; ``remaining`` is what is left to take during this candle."""

    price: Decimal
    remaining: Decimal


@dataclass(slots=True)
class SyntheticBook:
    """Bids (best first) and asks (best first) built around a reference price."""

    bids: list[BookLevel] = field(default_factory=list)
    asks: list[BookLevel] = field(default_factory=list)
    update_id: int = 1

    def rebuild(self, spec: MarketSpec, config: BookConfig, price: Decimal, volume: Decimal) -> None:
        """Regenerate all levels for a new candle (used-up liquidity comes back)."""
        tick = spec.tick_size
        if config.spread_bps is None or config.spread_bps <= 0:
            best_bid = floor_to(price, tick)
            best_ask = best_bid + tick
        else:
            half = CTX.divide(CTX.multiply(price, config.spread_bps), Decimal(20000))
            best_bid = floor_to(price - half, tick)
            best_ask = max(ceil_to(price + half, tick), best_bid + tick)
        if config.level_qty is not None:
            qty = config.level_qty
        else:
            qty = floor_to(CTX.multiply(volume, config.level_volume_fraction), spec.step_size)
        qty = max(qty, spec.min_qty)
        step = tick * config.level_step_ticks
        self.asks = [BookLevel(best_ask + step * i, qty) for i in range(config.levels)]
        self.bids = [
            BookLevel(best_bid - step * i, qty) for i in range(config.levels) if best_bid - step * i > 0
        ]
        self.update_id += 1

    def opposite(self, side: Side) -> list[BookLevel]:
        """Levels a taker on ``side`` trades against (asks for a buy)."""
        return self.asks if side == "BUY" else self.bids

    def plan_taker(
        self,
        step: Decimal,
        side: Side,
        qty_limit: Decimal | None,
        quote_limit: Decimal | None,
        price_limit: Decimal | None,
    ) -> tuple[list[tuple[BookLevel, Decimal]], bool]:
        """Walk the book without changing it; returns (level, qty) pairs and whether it ran dry."""
        plan: list[tuple[BookLevel, Decimal]] = []
        qty_left = qty_limit
        quote_left = quote_limit
        for level in self.opposite(side):
            if level.remaining <= 0:
                continue
            if price_limit is not None and (
                (side == "BUY" and level.price > price_limit)
                or (side == "SELL" and level.price < price_limit)
            ):
                return plan, False
            if qty_left is not None:
                take = min(qty_left, level.remaining)
            else:
                assert quote_left is not None
                take = min(level.remaining, floor_to(quote_left / level.price, step))
            if take <= 0:
                return plan, False
            plan.append((level, take))
            if qty_left is not None:
                qty_left -= take
                if qty_left == 0:
                    return plan, False
            else:
                assert quote_left is not None
                quote_left -= take * level.price
        return plan, True

    def best(self, side: Side) -> BookLevel | None:
        """Best level with liquidity left on the book side named by ``side`` ('BUY' = bids)."""
        levels = self.bids if side == "BUY" else self.asks
        return next((lvl for lvl in levels if lvl.remaining > 0), None)

    def take(self, level: BookLevel, qty: Decimal) -> None:
        """Consume liquidity from one level."""
        level.remaining -= qty
        self.update_id += 1

    def depth(self, limit: int) -> dict[str, Any]:
        """The /api/v3/depth answer, empty levels left out."""
        return {
            "lastUpdateId": self.update_id,
            "bids": [[fmt(lvl.price), fmt(lvl.remaining)] for lvl in self.bids if lvl.remaining > 0][:limit],
            "asks": [[fmt(lvl.price), fmt(lvl.remaining)] for lvl in self.asks if lvl.remaining > 0][:limit],
        }
