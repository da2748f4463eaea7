"""The exchange's view for `trade-executor repair`: settle stuck trades and find orphan orders.

Imports the ccxt venue (and so ccxt, the `live` extra): load it only when an exchange is given.
"""

from __future__ import annotations

from tradeexecutor.execution.ccxt_venue import CcxtVenue, _dec
from tradeexecutor.execution.exchange_client import make_exchange
from tradeexecutor.repair.stuck import OrphanOrder
from tradeexecutor.state.events import Event
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side, Trade


class CcxtResolver:
    def __init__(self, venue: CcxtVenue) -> None:
        self.venue = venue

    def resolve(self, state: State, trade: Trade) -> list[Event] | None:
        """Settle a stuck trade with what the exchange says of its client order id."""
        order = self.venue.find_order(trade)
        if order is None:
            return None
        events: list[Event] = []
        self.venue.refresh(state, trade, events.extend, order)
        return events

    def open_orders(self, state: State) -> list[OrphanOrder]:
        known = {t.client_order_id for t in state.portfolio.trades.values()}
        orphans = []
        for order in self.venue.account().open_orders:
            if order.get("clientOrderId") in known:
                continue
            price = order.get("price")
            orphans.append(
                OrphanOrder(
                    exchange_order_id=str(order["id"]),
                    client_order_id=order.get("clientOrderId"),
                    symbol=order.get("symbol") or self.venue.symbol,
                    side=Side(order["side"]),
                    amount=_dec(order.get("amount")),
                    price=_dec(price) if price else None,
                )
            )
        return orphans

    def cancel_orphan(self, order: OrphanOrder) -> None:
        self.venue.exchange.cancel_order(order.exchange_order_id, order.symbol)


def connect(exchange_id: str, pair: str, base_url: str | None, api_key: str, api_secret: str) -> CcxtResolver:
    """The resolver for one account on `exchange_id` (at `base_url`, e.g. a fake exchange)."""
    exchange = make_exchange(exchange_id, api_key, api_secret, base_url=base_url)
    return CcxtResolver(CcxtVenue(exchange, pair))
