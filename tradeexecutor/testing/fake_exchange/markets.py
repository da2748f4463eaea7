"""A market of the fake exchange: its filters, its candles, where it is in them, its book.

Why: the current candle drives the price, the book and which resting orders fill; candles after
it are the future, never served.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .book import MarketSpec, SyntheticBook
from .candles import Candle

__all__ = ["MarketState"]


@dataclass(slots=True)
class MarketState:
    """A market, its candles, the current candle index and its synthetic book."""

    spec: MarketSpec
    candles: list[Candle]
    interval_ms: int
    index: int = 0
    book: SyntheticBook = field(default_factory=SyntheticBook)

    @property
    def candle(self) -> Candle:
        """The current candle."""
        return self.candles[self.index]

    @property
    def visible_candles(self) -> list[Candle]:
        """Candles up to and including the current one (no peeking into the future)."""
        return self.candles[: self.index + 1]

