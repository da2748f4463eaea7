"""Account balances, orders and fills of the fake exchange, and how a fill moves balances.

Why: balances must change by exactly what Binance would book, so one place holds the books and
the rule for moving them.

Fee convention (Binance's default, no BNB discount): the fee is charged in the
asset received. A buy of ``q`` base at price ``p`` debits ``q*p`` quote and credits
``q - q*fee`` base (``commissionAsset`` = base); a sell debits ``q`` base and credits
``q*p - q*p*fee`` quote (``commissionAsset`` = quote). Commissions are not rounded, so
balances are exact products of the numbers involved. A limit order reserves (locks) what it
may spend until it fills or ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from .book import MarketSpec

__all__ = ["Account", "Balance", "Fill", "Order", "Side", "book_fill", "release"]

Side = Literal["BUY", "SELL"]
_ZERO = Decimal(0)
_OPEN = ("NEW", "PARTIALLY_FILLED")


@dataclass(slots=True)
class Fill:
    """One execution of an order (a row of /api/v3/myTrades)."""

    trade_id: int
    order_id: int
    market_id: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass(slots=True)
class Order:
    """An order as the exchange tracks it; ``locked`` is what it still reserves."""

    order_id: int
    client_order_id: str
    api_key: str
    market_id: str
    side: Side
    type: str
    time_in_force: str
    price: Decimal | None
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = _ZERO
    cumm_quote_qty: Decimal = _ZERO
    locked: Decimal = _ZERO
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED: can still fill or be canceled."""
        return self.status in _OPEN

    @property
    def remaining(self) -> Decimal:
        """Quantity not yet executed."""
        return self.orig_qty - self.executed_qty


@dataclass(slots=True)
class Balance:
    """Free and locked (reserved by open orders) amounts of one asset."""

    free: Decimal = _ZERO
    locked: Decimal = _ZERO


@dataclass(slots=True)
class Account:
    """One API key's balances, orders and trades."""

    api_key: str
    secret: str
    balances: dict[str, Balance] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    trades: list[Fill] = field(default_factory=list)
    by_client_id: dict[str, int] = field(default_factory=dict)
    update_time: int = 0

    def balance(self, asset: str) -> Balance:
        """Balance of ``asset``, created empty on first use."""
        return self.balances.setdefault(asset, Balance())


def book_fill(
    account: Account,
    spec: MarketSpec,
    order: Order,
    price: Decimal,
    qty: Decimal,
    *,
    rate: Decimal,
    is_maker: bool,
    now: int,
    trade_id: int,
) -> Fill:
    """Move balances for one execution of ``order`` (see the module docstring for the fee rule)."""
    quote_qty = price * qty
    base = account.balance(spec.base)
    quote = account.balance(spec.quote)
    if order.side == "BUY":
        commission, commission_asset = qty * rate, spec.base
        if order.type == "MARKET":
            quote.free -= quote_qty
        else:
            assert order.price is not None
            reserved = qty * order.price
            order.locked -= reserved
            quote.locked -= reserved
            quote.free += reserved - quote_qty
        base.free += qty - commission
    else:
        commission, commission_asset = quote_qty * rate, spec.quote
        if order.type == "MARKET":
            base.free -= qty
        else:
            order.locked -= qty
            base.locked -= qty
        quote.free += quote_qty - commission
    fill = Fill(
        trade_id=trade_id,
        order_id=order.order_id,
        market_id=spec.market_id,
        price=price,
        qty=qty,
        quote_qty=quote_qty,
        commission=commission,
        commission_asset=commission_asset,
        time=now,
        is_buyer=order.side == "BUY",
        is_maker=is_maker,
    )
    order.executed_qty += qty
    order.cumm_quote_qty += quote_qty
    order.update_time = now
    order.fills.append(fill)
    account.trades.append(fill)
    account.update_time = now
    return fill


def release(account: Account, spec: MarketSpec, order: Order) -> None:
    """Give back whatever the order still reserves."""
    if order.locked == 0:
        return
    asset = spec.quote if order.side == "BUY" else spec.base
    bal = account.balance(asset)
    bal.locked -= order.locked
    bal.free += order.locked
    order.locked = _ZERO
