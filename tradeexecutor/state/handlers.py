"""The reducer's handler registry and the lookups every handler shares.

A handler checks everything it needs before it changes anything; these lookups raise
`InvalidEvent` naming the event, so a refused event leaves the state as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tradeexecutor.state.balance import BalanceUpdate, BalanceUpdateKind
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    Event,
)
from tradeexecutor.state.identifiers import Asset
from tradeexecutor.state.position import Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import TRANSITIONS, Trade, TradeStatus

Handler = Callable[[State, Any], None]
HANDLERS: dict[type[Event], Handler] = {}


def handles(event_type: type[Event]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[event_type] = handler
        return handler

    return register


# --- helpers -------------------------------------------------------------------------------


def find_asset(state: State, event: Event, asset_id: str) -> Asset:
    asset = state.assets.get(asset_id)
    if asset is None:
        raise InvalidEvent(event, f"unknown asset {asset_id!r}; register it with asset_registered first")
    return asset


def find_trade(state: State, event: Event, trade_id: int) -> Trade:
    trade = state.portfolio.trades.get(trade_id)
    if trade is None:
        raise InvalidEvent(event, f"unknown trade id {trade_id}")
    return trade


def live_position(state: State, event: Event, position_id: int) -> Position:
    portfolio = state.portfolio
    position = portfolio.open_positions.get(position_id) or portfolio.frozen_positions.get(position_id)
    if position is None:
        where = "closed" if position_id in portfolio.closed_positions else "unknown"
        raise InvalidEvent(event, f"position {position_id} is {where}")
    return position


def check_transition(event: Event, trade: Trade, target: TradeStatus) -> None:
    if target not in TRANSITIONS[trade.status]:
        raise InvalidEvent(event, f"trade {trade.id} cannot go from {trade.status.value} to {target.value}")


def add_balance_update(
    state: State,
    event: Event,
    kind: BalanceUpdateKind,
    asset: str,
    amount: Decimal,
    position_id: int | None,
    note: str,
) -> None:
    updates = state.portfolio.balance_updates
    updates.append(BalanceUpdate(len(updates) + 1, kind, asset, amount, event.at, position_id, note))


def take_from_reserve(state: State, event: Event, asset: str, amount: Decimal) -> Decimal:
    """Return the reserve after taking `amount`, refusing the event if it would go negative."""
    find_asset(state, event, asset)
    left = state.portfolio.reserve(asset) - amount
    if left < 0:
        raise InvalidEvent(
            event, f"reserve {asset} would go negative: {state.portfolio.reserve(asset)} - {amount}"
        )
    return left
