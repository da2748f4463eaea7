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
from tradeexecutor.store.eventlog import START, EventLog
from tradeexecutor.store.loading import load_state
from tradeexecutor.store.logline import chain_of
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot_summary import read_summary


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


def render_state(
    state: State, trades: int = 10, closed: int = 10, closed_total: int | None = None, trades_total: int | None = None
) -> str:
    """The tables; `closed_total`/`trades_total` are the counts of the whole state when `state`
    holds only the newest closed positions (`store.snapshot_summary`)."""
    portfolio = state.portfolio
    closed_total = len(portfolio.closed_positions) if closed_total is None else closed_total
    trades_total = len(portfolio.trades) if trades_total is None else trades_total
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
            title=f"\nClosed positions (last {closed} of {closed_total})",
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
            title=f"\nRecent trades (last {len(recent)} of {trades_total})",
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


def _sealed_at_log_end(paths: StatePaths, data: bytes) -> tuple[bytes, int] | None:
    """The snapshot's JSON and seq when it is sealed and intact, at the log's last line, and the
    log carries its chain value there: the O(1) check of start-up (`store/loading.py`), without
    building the state. None otherwise (the caller takes the ordinary way)."""
    body, sealed = unseal(data)
    log = EventLog.of(paths)
    if sealed is None or not sealed.intact or log.format() != 2:
        return None
    seq = log.last_seq()
    found = log.line_at(seq, sealed.offset) if seq else None
    if found is None:
        return None
    try:
        if chain_of(found[0]) != sealed.chain:
            return None
    except ValueError:
        return None
    return body, seq


def read_for_show(paths: StatePaths, trades: int = 10, closed: int = 10) -> tuple[State, str, tuple[int, int] | None]:
    """The state to show, a line saying where it comes from, and the totals of closed positions
    and trades when the state holds only the listed ones.

    A summary must not cost the whole history. When the snapshot is at the log's end and checks
    out against it as at start-up (its seal, the log's chain value at its seq, the executor of the
    log's first line), it is read with only the newest `closed` closed positions and those of the
    newest `trades` trades (`store/snapshot_summary.py`). Otherwise (events after the snapshot, no
    seal, a mismatch) the state is loaded as start-up loads it, which names any problem."""
    if paths.snapshot.exists():
        checked = _sealed_at_log_end(paths, paths.snapshot.read_bytes())
        if checked is not None:
            body, seq = checked
            summary = read_summary(body, closed, trades)
            del body
            if summary is not None and summary.state.last_event_seq == seq:
                first = State()
                EventLog.of(paths).fold(first, START, until_seq=1)
                if first.executor_id == summary.state.executor_id:
                    source = f"read from the snapshot {paths.snapshot} at event {seq}, checked against the log's chain there"
                    return summary.state, source, (summary.closed_total, summary.trades_total)
    state = load_state(paths)
    where = f"the snapshot {paths.snapshot} and the log after it" if paths.snapshot.exists() else f"the log {paths.log}"
    return state, f"loaded from {where} ({state.last_event_seq} events)", None


def run(args: argparse.Namespace) -> int:
    paths = StatePaths(args.state_dir, args.id)
    if not paths.log.exists() and not paths.snapshot.exists():
        print(f"no state for executor {args.id!r} in {args.state_dir} (looked for {paths.log.name})")
        return 1
    state, source, totals = read_for_show(paths, trades=args.trades, closed=args.closed)
    closed_total, trades_total = totals if totals is not None else (None, None)
    print(render_state(state, trades=args.trades, closed=args.closed, closed_total=closed_total, trades_total=trades_total))
    print(f"\n{source}")
    return 0


@click.command("show", help="Show reserves, positions and recent trades.")
@state_options
@option("--trades", type=click.IntRange(min=0), default=10, help="how many recent trades to list")
@option("--closed", type=click.IntRange(min=0), default=10, help="how many closed positions to list")
def show_command(**options: Any) -> int:
    return run(argparse.Namespace(**options))
