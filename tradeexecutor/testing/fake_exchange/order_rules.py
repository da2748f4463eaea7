"""What the fake exchange refuses before an order is accepted, as Binance does.

Why: ccxt turns each refusal into a specific exception (``InvalidOrder``, ``BadRequest`` ...),
and the executor must see the same ones it would see on Binance: order shapes (type, time in
force, which of price/quantity/quoteOrderQty), client order ids and the symbol's filters
(PRICE_FILTER, LOT_SIZE, NOTIONAL).
"""

from __future__ import annotations

import re
from decimal import Decimal

from .decimals import is_multiple
from .errors import BinanceError, mandatory, not_required
from .markets import MarketState

__all__ = ["check_client_order_id", "check_filters", "check_shape"]

_CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def check_client_order_id(client_order_id: str | None) -> None:
    """Binance's pattern for ``newClientOrderId``."""
    if client_order_id is not None and not _CLIENT_ID_RE.match(client_order_id):
        raise BinanceError(
            -1100,
            "Illegal characters found in parameter 'newClientOrderId'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )


def check_shape(
    order_type: str,
    tif: str | None,
    price: Decimal | None,
    quantity: Decimal | None,
    quote_order_qty: Decimal | None,
) -> str:
    """Check which fields the order type needs; returns the time in force it will have."""
    if order_type == "LIMIT":
        if tif is None:
            raise mandatory("timeInForce")
        if tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
    elif order_type == "LIMIT_MAKER":
        tif = "GTC"
    elif order_type == "MARKET":
        if price is not None:
            raise not_required("price")
        if quantity is None and quote_order_qty is None:
            raise BinanceError(
                -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        if quantity is not None and quote_order_qty is not None:
            raise not_required("quoteOrderQty")
        return "GTC"
    else:
        raise BinanceError(-1116, "Invalid orderType.")
    if price is None:
        raise mandatory("price")
    if quantity is None:
        raise mandatory("quantity")
    if quote_order_qty is not None:
        raise not_required("quoteOrderQty")
    return tif

def check_filters(
    state: MarketState,
    order_type: str,
    price: Decimal | None,
    quantity: Decimal | None,
    quote_order_qty: Decimal | None,
) -> None:
    """The symbol's PRICE_FILTER, LOT_SIZE and NOTIONAL filters."""
    spec = state.spec
    if price is not None:
        if price <= 0:
            raise BinanceError(-1013, "Invalid price.")
        if (
            price < spec.min_price
            or price > spec.max_price
            or not is_multiple(price - spec.min_price, spec.tick_size)
        ):
            raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
    if quantity is not None:
        if quantity <= 0:
            raise BinanceError(-1013, "Invalid quantity.")
        if (
            quantity < spec.min_qty
            or quantity > spec.max_qty
            or not is_multiple(quantity - spec.min_qty, spec.step_size)
        ):
            raise BinanceError(-1013, "Filter failure: LOT_SIZE")
    if quote_order_qty is not None and quote_order_qty <= 0:
        raise BinanceError(-1013, "Invalid quoteOrderQty.")
    if quote_order_qty is not None:
        notional = quote_order_qty
    elif price is not None and quantity is not None:
        notional = price * quantity
    else:
        assert quantity is not None
        notional = quantity * state.candle.close
    if notional < spec.min_notional:
        raise BinanceError(-1013, "Filter failure: NOTIONAL")
    if order_type != "MARKET" and notional > spec.max_notional:
        raise BinanceError(-1013, "Filter failure: NOTIONAL")
