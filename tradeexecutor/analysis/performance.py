"""Performance statistics of a `State`: the same figures for live, paper and backtest runs.

Every position counts: closed ones as round trips, open and frozen ones at their mark (the last
valuation's price), so a live run whose position is still open shows its fills, fees and
exposure. Fees outside any traded position (a `fee_charged` in the reserve currency) count too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from tradeexecutor.analysis.statistics import ClosedTrade, OpenTrade, Statistics, compute_statistics
from tradeexecutor.state.balance import BalanceUpdateKind
from tradeexecutor.state.position import Direction, Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side
from tradeexecutor.store.equity import read_curve
from tradeexecutor.store.paths import StatePaths

_ZERO = Decimal(0)


def _entry_value(position: Position) -> Decimal:
    opening = Side.buy if position.direction is Direction.long else Side.sell
    return sum(
        (fill.quantity * fill.price for trade in position.trades.values() if trade.side is opening for fill in trade.fills),
        _ZERO,
    )


def _fills(position: Position) -> int:
    return sum(len(trade.fills) for trade in position.trades.values())


def _mark(state: State, position: Position) -> Decimal:
    """The price the position is valued at: its mark, else the last observed price, else its entry."""
    if position.mark_price is not None:
        return position.mark_price
    return state.last_prices.get(position.pair_id, position.average_price)


def _round_trips(state: State) -> list[Position]:
    """Closed positions that traded (one rejected or cancelled before any fill is no round trip)."""
    return [
        p for p in state.portfolio.closed_positions.values() if p.closed_at is not None and _entry_value(p) > 0
    ]


def _holding(state: State) -> list[Position]:
    """Open and frozen positions with at least one fill (an order not filled yet has no exposure)."""
    return [p for p in state.portfolio.live_positions() if _fills(p)]


def closed_trades(state: State) -> list[ClosedTrade]:
    """Each closed position that traded is one round trip, its PnL net of fees, funding and dust."""
    result = []
    for position in _round_trips(state):
        assert position.closed_at is not None
        result.append(
            ClosedTrade(
                opened_at=position.opened_at,
                closed_at=position.closed_at,
                pnl=position.net_pnl,
                fees=position.fees_paid,
                entry_value=_entry_value(position),
                fills=_fills(position),
            )
        )
    return result


def open_trades(state: State) -> list[OpenTrade]:
    """Open and frozen positions that hold something, marked to market."""
    return [
        OpenTrade(
            opened_at=position.opened_at,
            pnl=position.net_pnl,
            fees=position.fees_paid,
            exposure=position.quantity * _mark(state, position),
            fills=_fills(position),
        )
        for position in _holding(state)
    ]


def _fees_outside_trades(state: State, counted: Iterable[Position]) -> Decimal:
    """Fees the round trips and open trades do not hold: those of positions that never filled and
    `fee_charged` events in the reserve currency that belong to no position."""
    counted_ids = {position.id for position in counted}
    portfolio = state.portfolio
    total = sum(
        (
            p.fees_paid
            for positions in (portfolio.open_positions, portfolio.frozen_positions, portfolio.closed_positions)
            for p in positions.values()
            if p.id not in counted_ids
        ),
        _ZERO,
    )
    for update in portfolio.balance_updates:
        if update.kind is BalanceUpdateKind.fee and update.position_id is None and update.asset == state.reserve_currency:
            total -= update.amount  # fee updates are negative amounts
    return total


def dust_value(state: State) -> Decimal:
    """What the remainders booked as dust at closing are worth at the last observed price."""
    return sum(
        (
            position.dust * state.last_prices.get(position.pair_id, position.average_price)
            for position in state.portfolio.closed_positions.values()
            if position.dust
        ),
        _ZERO,
    )


def statistics_from_state(state: State, curve: Sequence[tuple[datetime, Decimal]]) -> Statistics:
    """The statistics of `state` whose equity curve is `curve` (time, equity): the curve is not in
    the state; read it from the equity file with `store.equity.read_curve`."""
    benchmark = None
    if len(curve) >= 2 and state.first_prices and state.last_prices:
        pair_id = min(state.first_prices)
        benchmark = [
            (curve[0][0], state.first_prices[pair_id]),
            (curve[-1][0], state.last_prices[pair_id]),
        ]
    return compute_statistics(
        curve,
        closed_trades(state),
        benchmark_prices=benchmark,
        open_trades=open_trades(state),
        other_fees=_fees_outside_trades(state, [*_round_trips(state), *_holding(state)]),
        dust_value=dust_value(state),
    )


def statistics_from_files(state: State, paths: StatePaths) -> Statistics:
    """The statistics of a state on disk: its curve read from the equity file beside the log."""
    return statistics_from_state(state, read_curve(paths.equity))
