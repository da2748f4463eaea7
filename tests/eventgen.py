"""A hypothesis strategy of random *valid* event sequences.

Each step draws an action and turns it into events that are valid for the state built so far
(the generator applies them as it goes), so every drawn sequence folds without error.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import strategies as st

from tradeexecutor.state.events import (
    AssetRegistered,
    BalanceCorrected,
    CycleCompleted,
    DepositMade,
    Event,
    ExecutorStarted,
    FillReceived,
    FundingPaid,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderRejected,
    OrderSubmitted,
    PairRegistered,
    PositionFrozen,
    PositionUnfrozen,
    RepairApplied,
    StateCreated,
    StrategyStateChanged,
    TradePlanned,
    ValuationRecorded,
    WithdrawalMade,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.reducer import apply
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import FINISHED, OrderType, Side, TradeStatus
from tradeexecutor.state.values import utc

SPOT, PERP = 1, 2

prices = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("90000"), places=2, allow_nan=False)
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("3"), places=3, allow_nan=False)
fees = st.decimals(min_value=Decimal("0"), max_value=Decimal("2"), places=4, allow_nan=False)
# Times with and without milliseconds and microseconds, to exercise timestamp formatting.
steps = st.integers(min_value=0, max_value=10**9).map(lambda us: timedelta(microseconds=us))

# Repeats weight the draw towards the trade life cycle, where most invariants live.
ACTIONS = [
    *["deposit", "withdraw", "correct", "value", "cycle", "freeze", "unfreeze", "funding", "machine"],
    *["open"] * 3,
    *["add"] * 2,
    *["reduce"] * 3,
    *["submit"] * 5,
    *["fill"] * 7,
    *["finish"] * 2,
]


def setup_events() -> list[Event]:
    at = utc(2026, 3, 1)
    return [
        StateCreated(at, "prop", "USDT"),
        ExecutorStarted(at, "test", "backtest"),
        AssetRegistered(at, "USDT", 6),
        AssetRegistered(at, "BTC", 8),
        AssetRegistered(at, "BNB", 8),
        PairRegistered(at, SPOT, "BTC/USDT", "BTC", "USDT", "binance", PairKind.spot),
        PairRegistered(at, PERP, "BTC/USDT:USDT", "BTC", "USDT", "binance", PairKind.perpetual),
        DepositMade(at, "USDT", Decimal("5000000"), "initial"),
        DepositMade(at, "BNB", Decimal("100"), "fees"),
    ]


@st.composite
def event_sequences(draw: st.DrawFn, max_steps: int = 40) -> list[Event]:
    state = State()
    events: list[Event] = []
    now = utc(2026, 3, 1)

    def emit(event: Event) -> None:
        apply(state, event)
        events.append(event)

    for event in setup_events():
        emit(event)
    for _ in range(draw(st.integers(min_value=0, max_value=max_steps))):
        now = now + draw(steps)
        action = draw(st.sampled_from(ACTIONS))
        portfolio = state.portfolio
        open_positions = list(portfolio.open_positions.values())
        active = [t for t in portfolio.trades.values() if t.status not in FINISHED]
        if action == "deposit":
            emit(DepositMade(now, draw(st.sampled_from(["USDT", "BTC"])), draw(prices), "top-up"))
        elif action == "withdraw" and state.cash() > 10:
            emit(WithdrawalMade(now, "USDT", (state.cash() / 10).quantize(Decimal("0.01")), "payout"))
        elif action == "correct":
            emit(
                BalanceCorrected(
                    now, "BNB", draw(st.sampled_from([Decimal("0.5"), Decimal("-0.25")])), "recon"
                )
            )
        elif action == "open":
            pair = draw(st.sampled_from([SPOT, PERP]))
            side = Side.buy if pair == SPOT else draw(st.sampled_from([Side.buy, Side.sell]))
            order_type = draw(st.sampled_from([OrderType.market, OrderType.limit]))
            limit = draw(prices) if order_type is OrderType.limit else None
            expires = now + timedelta(minutes=5) if order_type is OrderType.limit else None
            trade_id = portfolio.next_trade_id
            emit(
                TradePlanned(
                    now,
                    trade_id,
                    portfolio.next_position_id,
                    pair,
                    side,
                    order_type,
                    draw(quantities),
                    limit,
                    f"c{trade_id}",
                    expires,
                )
            )
        elif action in ("add", "reduce") and open_positions:
            position = draw(st.sampled_from(open_positions))
            if action == "reduce" and not position.quantity:
                continue
            increases = action == "add"
            side = Side.buy if (position.direction.value == "long") == increases else Side.sell
            quantity = draw(quantities) if increases else position.quantity
            trade_id = portfolio.next_trade_id
            emit(
                TradePlanned(
                    now,
                    trade_id,
                    position.id,
                    position.pair_id,
                    side,
                    OrderType.market,
                    quantity,
                    None,
                    f"c{trade_id}",
                )
            )
        elif action == "submit":
            planned = [t for t in active if t.status in (TradeStatus.planned, TradeStatus.failed)]
            if planned:
                trade = draw(st.sampled_from(planned))
                emit(
                    OrderSubmitted(
                        now, trade.id, draw(st.one_of(st.none(), st.text("0123456789", min_size=1)))
                    )
                )
        elif action == "fill":
            fillable = [
                t for t in active if t.status in (TradeStatus.submitted, TradeStatus.partially_filled)
            ]
            if fillable:
                trade = draw(st.sampled_from(fillable))
                position = portfolio.get_position(trade.position_id)
                assert position is not None
                increases = (position.direction.value == "long") == (trade.side is Side.buy)
                room = (
                    trade.remaining_quantity
                    if increases
                    else min(trade.remaining_quantity, position.quantity)
                )
                if room <= 0:
                    continue
                part = draw(st.sampled_from([room, (room / 2).quantize(Decimal("0.0001"))]))
                if part <= 0:
                    part = room
                price = draw(prices)
                if position.kind is PairKind.spot and increases and part * price > state.cash() - 10:
                    continue
                if position.kind is PairKind.perpetual and not increases:
                    loss = (position.average_price - price) * part * position.sign
                    if loss > state.cash() / 2:
                        continue
                fee_asset = draw(st.sampled_from(["USDT", "BNB"]))
                fee = draw(fees) if fee_asset == "USDT" else Decimal("0.001")
                emit(
                    FillReceived(
                        now, trade.id, part, price, fee, fee_asset, draw(st.one_of(st.none(), st.just("x1")))
                    )
                )
        elif action == "finish" and active:
            trade = draw(st.sampled_from(active))
            kind = draw(st.sampled_from(["cancel", "reject", "expire", "fail", "repair"]))
            status = trade.status
            if kind == "cancel":
                emit(OrderCancelled(now, trade.id, "strategy"))
            elif kind == "reject" and status in (
                TradeStatus.planned,
                TradeStatus.submitted,
                TradeStatus.failed,
            ):
                emit(OrderRejected(now, trade.id, "insufficient balance"))
            elif kind == "expire" and status is not TradeStatus.planned:
                emit(OrderExpired(now, trade.id, "timeout"))
            elif kind == "fail" and status is not TradeStatus.failed:
                emit(OrderFailed(now, trade.id, "network"))
            elif kind == "repair":
                emit(RepairApplied(now, trade.id, "operator closed it"))
        elif action == "value":
            emit(ValuationRecorded(now, {SPOT: draw(prices), PERP: draw(prices)}))
        elif action == "cycle":
            emit(CycleCompleted(now, state.cycle + 1))
        elif action == "freeze" and open_positions:
            emit(PositionFrozen(now, draw(st.sampled_from(open_positions)).id, "balance mismatch"))
        elif action == "unfreeze" and portfolio.frozen_positions:
            emit(PositionUnfrozen(now, draw(st.sampled_from(list(portfolio.frozen_positions))), "reconciled"))
        elif action == "funding":
            perps = [p for p in portfolio.live_positions() if p.kind is PairKind.perpetual]
            if perps:
                emit(
                    FundingPaid(
                        now,
                        draw(st.sampled_from(perps)).id,
                        draw(st.sampled_from([Decimal("1.5"), Decimal("-0.7")])),
                    )
                )
        elif action == "machine":
            machine = draw(st.sampled_from(["cycle", "mm"]))
            emit(
                StrategyStateChanged(
                    now, machine, state.strategy_states.get(machine), draw(st.sampled_from(["A", "B"]))
                )
            )
    return events
