"""Reducer handlers for the account: creation, assets and pairs, deposits, withdrawals, fees, funding, corrections."""

from __future__ import annotations

import dataclasses

from tradeexecutor.state.balance import BalanceUpdateKind
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    AssetRegistered,
    BalanceCorrected,
    DepositMade,
    ExecutorStarted,
    FeeCharged,
    FundingPaid,
    PairRegistered,
    PairRulesRecorded,
    StateCreated,
    WithdrawalMade,
)
from tradeexecutor.state.handlers import (
    add_balance_update,
    find_asset,
    handles,
    live_position,
    take_from_reserve,
)
from tradeexecutor.state.identifiers import Asset, PairKind, TradingPair
from tradeexecutor.state.state import State
from tradeexecutor.state.uptime import Run
from tradeexecutor.state.values import ZERO


@handles(StateCreated)
def _state_created(state: State, event: StateCreated) -> None:
    if state.created_at is not None:
        raise InvalidEvent(event, "the state was created already")
    if not event.executor_id:
        raise InvalidEvent(event, "executor_id is empty")
    if not event.reserve_currency:
        raise InvalidEvent(event, "reserve_currency is empty")
    state.created_at = event.at
    state.executor_id = event.executor_id
    state.reserve_currency = event.reserve_currency


@handles(ExecutorStarted)
def _executor_started(state: State, event: ExecutorStarted) -> None:
    state.uptime.runs.append(Run(started_at=event.at, version=event.version, mode=event.mode))


@handles(AssetRegistered)
def _asset_registered(state: State, event: AssetRegistered) -> None:
    if not event.asset_id:
        raise InvalidEvent(event, "asset_id is empty")
    if event.asset_id in state.assets:
        raise InvalidEvent(event, f"asset {event.asset_id!r} is registered already")
    if not (0 <= event.decimals <= 36):
        raise InvalidEvent(event, f"decimals {event.decimals} is outside 0..36")
    state.assets[event.asset_id] = Asset(event.asset_id, event.decimals)


@handles(PairRegistered)
def _pair_registered(state: State, event: PairRegistered) -> None:
    if event.pair_id <= 0:
        raise InvalidEvent(event, f"pair id {event.pair_id} must be positive")
    if event.pair_id in state.pairs:
        raise InvalidEvent(event, f"pair id {event.pair_id} is registered already")
    find_asset(state, event, event.base)
    find_asset(state, event, event.quote)
    if event.quote != state.reserve_currency:
        raise InvalidEvent(
            event,
            f"pair {event.symbol} is quoted in {event.quote}, not the reserve currency {state.reserve_currency}; "
            "equity is counted in the reserve currency, so only pairs quoted in it can be traded",
        )
    if event.base == event.quote:
        raise InvalidEvent(event, "base and quote are the same asset")
    state.pairs[event.pair_id] = TradingPair(
        event.pair_id, event.symbol, event.base, event.quote, event.venue, event.kind
    )


@handles(PairRulesRecorded)
def _pair_rules_recorded(state: State, event: PairRulesRecorded) -> None:
    pair = state.pairs.get(event.pair_id)
    if pair is None:
        raise InvalidEvent(event, f"rules for unknown pair id {event.pair_id}")
    for name in ("lot_size", "min_quantity", "min_notional"):
        value = getattr(event, name)
        if value is not None and value <= 0:
            raise InvalidEvent(event, f"{name} {value} must be positive")
    state.pairs[pair.id] = dataclasses.replace(
        pair, lot_size=event.lot_size, min_quantity=event.min_quantity, min_notional=event.min_notional
    )


@handles(DepositMade)
def _deposit_made(state: State, event: DepositMade) -> None:
    find_asset(state, event, event.asset)
    if event.amount <= 0:
        raise InvalidEvent(event, f"deposit amount {event.amount} must be positive")
    reserves = state.portfolio.reserves
    reserves[event.asset] = reserves.get(event.asset, ZERO) + event.amount
    add_balance_update(state, event, BalanceUpdateKind.deposit, event.asset, event.amount, None, event.note)


@handles(WithdrawalMade)
def _withdrawal_made(state: State, event: WithdrawalMade) -> None:
    if event.amount <= 0:
        raise InvalidEvent(event, f"withdrawal amount {event.amount} must be positive")
    state.portfolio.reserves[event.asset] = take_from_reserve(state, event, event.asset, event.amount)
    add_balance_update(
        state, event, BalanceUpdateKind.withdrawal, event.asset, -event.amount, None, event.note
    )


@handles(FeeCharged)
def _fee_charged(state: State, event: FeeCharged) -> None:
    if event.amount <= 0:
        raise InvalidEvent(event, f"fee amount {event.amount} must be positive")
    position = None if event.position_id is None else live_position(state, event, event.position_id)
    left = take_from_reserve(state, event, event.asset, event.amount)
    state.portfolio.reserves[event.asset] = left
    if position is not None and state.pairs[position.pair_id].quote == event.asset:
        position.fees_paid += event.amount
    add_balance_update(
        state, event, BalanceUpdateKind.fee, event.asset, -event.amount, event.position_id, event.note
    )


@handles(FundingPaid)
def _funding_paid(state: State, event: FundingPaid) -> None:
    if event.amount == 0:
        raise InvalidEvent(event, "a funding payment of zero changes nothing")
    position = live_position(state, event, event.position_id)
    pair = state.pairs[position.pair_id]
    if pair.kind is not PairKind.perpetual:
        raise InvalidEvent(event, f"position {position.id} is {pair.kind.value}, not perpetual")
    left = take_from_reserve(state, event, pair.quote, event.amount)
    state.portfolio.reserves[pair.quote] = left
    position.funding_paid += event.amount
    add_balance_update(
        state, event, BalanceUpdateKind.funding, pair.quote, -event.amount, position.id, event.note
    )


@handles(BalanceCorrected)
def _balance_corrected(state: State, event: BalanceCorrected) -> None:
    if event.amount == 0:
        raise InvalidEvent(event, "a correction of zero changes nothing")
    left = take_from_reserve(state, event, event.asset, -event.amount)
    state.portfolio.reserves[event.asset] = left
    add_balance_update(
        state, event, BalanceUpdateKind.correction, event.asset, event.amount, None, event.reason
    )


# --- trades ---------------------------------------------------------------------------------
