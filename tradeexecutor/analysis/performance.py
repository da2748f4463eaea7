"""Performance statistics of a `State`: the same figures for live, paper and backtest runs."""

from __future__ import annotations

from decimal import Decimal

from tradeexecutor.analysis.statistics import ClosedTrade, Statistics, compute_statistics
from tradeexecutor.state.position import Direction, Position
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side


def _entry_value(position: Position) -> Decimal:
    opening = Side.buy if position.direction is Direction.long else Side.sell
    return sum(
        (fill.quantity * fill.price for trade in position.trades.values() if trade.side is opening for fill in trade.fills),
        Decimal(0),
    )


def closed_trades(state: State) -> list[ClosedTrade]:
    """Each closed position that traded is one round trip, its PnL net of fees and funding."""
    result = []
    for position in state.portfolio.closed_positions.values():
        entry = _entry_value(position)
        if entry <= 0 or position.closed_at is None:
            continue  # never filled (rejected or cancelled before any fill)
        result.append(
            ClosedTrade(
                opened_at=position.opened_at,
                closed_at=position.closed_at,
                pnl=position.net_pnl,
                fees=position.fees_paid,
                entry_value=entry,
            )
        )
    return result


def statistics_from_state(state: State) -> Statistics:
    curve = [(point.at, point.equity) for point in state.valuations]
    benchmark = None
    if len(state.valuations) >= 2 and state.first_prices and state.last_prices:
        pair_id = min(state.first_prices)
        benchmark = [
            (state.valuations[0].at, state.first_prices[pair_id]),
            (state.valuations[-1].at, state.last_prices[pair_id]),
        ]
    return compute_statistics(curve, closed_trades(state), benchmark_prices=benchmark)
