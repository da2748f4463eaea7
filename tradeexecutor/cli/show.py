"""`trade-executor show`: the state as tables (reserves, positions, recent trades)."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

import click

from tradeexecutor.analysis.formatting import format_money, format_time
from tradeexecutor.cli.options import option, state_options
from tradeexecutor.cli.table import render_table
from tradeexecutor.state.position import Position
from tradeexecutor.state.state import State
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import load_state


def _quantity(value: Decimal) -> str:
    """Plain notation, and `0` for any zero (`0E-8` is what exact arithmetic leaves)."""
    return "0" if not value else format(value, "f")


def _position_row(state: State, position: Position) -> list[object]:
    pair = state.pairs[position.pair_id]
    return [
        position.id,
        pair.symbol,
        position.direction.value,
        position.status.value,
        _quantity(position.quantity) + (f" (dust {_quantity(position.dust)})" if position.dust else ""),
        format_money(position.average_price),
        format_money(position.realised_pnl),
        format_money(position.fees_paid),
        format_time(position.opened_at),
        format_time(position.closed_at) if position.closed_at else "",
    ]


def _closed_key(position: Position) -> tuple[object, int]:
    return (position.closed_at or position.opened_at, position.id)


def _last(items: list[Position], count: int) -> list[Position]:
    return items[-count:] if count > 0 else []


POSITION_HEADERS = ["id", "pair", "dir", "status", "qty", "avg price", "realised", "fees", "opened", "closed"]


def render_state(state: State, trades: int = 10, closed: int = 10) -> str:
    portfolio = state.portfolio
    parts = [
        f"executor {state.executor_id}  created {format_time(state.created_at, seconds=True)}  cycle {state.cycle}  "
        f"events {state.last_event_seq}  equity {format_money(state.total_equity())} {state.reserve_currency}"
        if state.created_at
        else "empty state (no events yet)",
        render_table(
            ["asset", "balance"],
            [[asset, amount] for asset, amount in sorted(portfolio.reserves.items())],
            title="\nReserves",
        ),
        render_table(
            POSITION_HEADERS,
            [_position_row(state, p) for p in portfolio.live_positions()],
            title="\nOpen and frozen positions",
        ),
        render_table(
            POSITION_HEADERS,
            [_position_row(state, p) for p in _last(sorted(portfolio.closed_positions.values(), key=_closed_key), closed)],
            title=f"\nClosed positions (last {closed} of {len(portfolio.closed_positions)})",
        ),
    ]
    # The trade index is built position by position (open ones first when loaded from a snapshot):
    # order it by time, then id, so the newest trade is the last line.
    in_order = sorted(portfolio.trades.values(), key=lambda t: (t.planned_at, t.id))
    recent = in_order[-trades:] if trades > 0 else []
    parts.append(
        render_table(
            ["id", "pos", "pair", "side", "type", "status", "qty", "avg price", "planned"],
            [
                [
                    t.id,
                    t.position_id,
                    state.pairs[t.pair_id].symbol,
                    t.side.value,
                    t.order_type.value,
                    t.status.value,
                    _quantity(t.quantity),
                    format_money(t.average_price) if t.average_price is not None else "",
                    format_time(t.planned_at, seconds=True),
                ]
                for t in recent
            ],
            title=f"\nRecent trades (last {len(recent)} of {len(portfolio.trades)})",
        )
    )
    parts.append(render_refusals(state))
    return "\n".join(parts)


def render_refusals(state: State) -> str:
    """The state's summary of refused intents and rejected orders: counts and the last reasons."""
    refusals = state.refusals
    if not refusals.total:
        return "\nRefused intents and rejected orders: none"
    title = (
        f"\nRefused intents and rejected orders ({refusals.intents} intents refused, "
        f"{refusals.orders} orders rejected; last {len(refusals.recent)})"
    )
    return render_table(
        ["at", "kind", "what", "reason"],
        [[r.at.strftime("%Y-%m-%d %H:%M:%S"), r.kind, r.subject, r.reason] for r in refusals.recent],
        title=title,
    )


def run(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir, args.id)
    if not paths.log.exists() and not paths.snapshot.exists():
        print(f"no state for executor {args.id!r} in {args.state_dir} (looked for {paths.log.name})")
        return 1
    state = load_state(paths)
    print(render_state(state, trades=args.trades, closed=args.closed))
    return 0


@click.command("show", help="Show reserves, positions and recent trades.")
@state_options
@option("--trades", type=click.IntRange(min=0), default=10, help="how many recent trades to list")
@option("--closed", type=click.IntRange(min=0), default=10, help="how many closed positions to list")
def show_command(**options: Any) -> int:
    return run(argparse.Namespace(**options))
