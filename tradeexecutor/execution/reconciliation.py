"""Reconciliation: compare the state with the exchange and turn every difference into an event.

Run at start-up and every N cycles. Open trades are refreshed first (a fill we missed is applied,
an order cancelled outside is closed), and again after the balances are read: if that records a
fill, the balances may or may not include it, so they are read again (and not compared at all
if our orders keep filling). Then:
* an open exchange order whose client order id is not one of our trades is reported
  (`exchange_difference`) and left alone;
* the base asset: the exchange's balance must equal the quantity our live spot positions hold
  plus the base asset's reserve (dust left by closed positions).
  If not, the positions on that pair are frozen with a message saying what differs and by how
  much; other pairs go on trading. A position frozen for this reason is unfrozen once the
  balances agree again;
* the quote asset: a mismatch is reported (it cannot be pinned on one position).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from tradeexecutor.execution.venue import Record
from tradeexecutor.state.events import ExchangeDifference, PositionFrozen, PositionUnfrozen
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Trade

BALANCE_REASON = "balance mismatch"
#: How often the balances are read again when our orders fill while they are being read.
STABLE_READ_ATTEMPTS = 3


@dataclass
class ExchangeAccount:
    """What reconciliation needs to know of the exchange side."""

    balances: dict[str, Decimal]
    open_orders: list[dict[str, Any]] = field(default_factory=list)


class ExchangeSide(Protocol):
    """The exchange as reconciliation sees it (the ccxt venue provides it)."""

    @property
    def market(self) -> dict[str, Any]:
        """The traded market in ccxt's form (`base`, `quote`, precision, limits)."""
        ...

    def refresh(self, state: State, trade: Trade, record: Record, order: dict[str, Any] | None = None) -> bool:
        """Record what the exchange says happened to the trade; False if it could not be asked."""
        ...

    def account(self) -> ExchangeAccount:
        """The balances and open orders (raises ccxt's transient errors when unreachable)."""
        ...


def _refresh_open_trades(state: State, venue: ExchangeSide, record: Record, placed_only: bool = False) -> bool:
    """`placed_only`: only trades the exchange has an order for (a lookup of one it does not know
    counts towards declaring it never sent, which must not speed up). False if the exchange could
    not tell about one of them (then the balances cannot be compared)."""
    answered = True
    for trade in sorted(state.portfolio.trades.values(), key=lambda t: t.id):
        if not trade.is_finished and (trade.exchange_order_id is not None or not placed_only):
            answered = venue.refresh(state, trade, record) and answered
    return answered


def reconcile(state: State, venue: ExchangeSide, record: Record, at: datetime) -> list[str]:
    """Returns the differences found, one line each (also recorded as events)."""
    differences: list[str] = []
    answered = _refresh_open_trades(state, venue, record)
    # A fill that lands between the refresh and the balance read would look like a difference:
    # refresh again after the read, and trust the balances only if that recorded nothing new.
    # Fills the exchange could not tell us about (an outage) would look like one too.
    for _ in range(STABLE_READ_ATTEMPTS):
        account = venue.account()
        seq = state.last_event_seq
        answered = _refresh_open_trades(state, venue, record, placed_only=True) and answered
        balances_settled = state.last_event_seq == seq and answered
        if balances_settled or not answered:
            break
    known_clients = {t.client_order_id for t in state.portfolio.trades.values()}
    for order in account.open_orders:
        client_id = order.get("clientOrderId")
        if client_id not in known_clients:
            detail = (
                f"open order {order.get('id')} ({client_id}) {order.get('side')} {order.get('amount')} "
                f"{order.get('symbol')} @ {order.get('price')} is not one of ours; left alone"
            )
            differences.append(detail)
            record([ExchangeDifference(at, "unknown_order", detail)])
    if not balances_settled:
        return differences  # orders kept filling, or could not be asked about: the next reconciliation compares
    market = venue.market
    base, quote = market["base"], market["quote"]
    positions = [
        p
        for p in state.portfolio.live_positions()
        if state.pairs[p.pair_id].base == base and state.pairs[p.pair_id].kind is PairKind.spot
    ]
    # The base reserve holds the dust that closed positions left (see `Position.dust`).
    ours = sum((p.quantity for p in positions), state.portfolio.reserve(base))
    theirs = account.balances.get(base, Decimal(0))
    if ours != theirs:
        detail = f"{base}: the state holds {ours}, the exchange {theirs} (difference {theirs - ours})"
        differences.append(detail)
        for position in positions:
            if position.id in state.portfolio.open_positions:
                record([PositionFrozen(at, position.id, f"{BALANCE_REASON}: {detail}")])
        if not positions:
            record([ExchangeDifference(at, "balance", detail)])
    else:
        for position in positions:
            reason = position.frozen_reason or ""
            if position.id in state.portfolio.frozen_positions and reason.startswith(BALANCE_REASON):
                record([PositionUnfrozen(at, position.id, "balances agree again")])
    cash, exchange_cash = state.portfolio.reserve(quote), account.balances.get(quote, Decimal(0))
    if cash != exchange_cash:
        detail = f"{quote}: the state holds {cash}, the exchange {exchange_cash} (difference {exchange_cash - cash})"
        differences.append(detail)
        record([ExchangeDifference(at, "balance", detail)])
    return differences
