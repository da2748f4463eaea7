"""Reducer handlers for the run: valuations, cycles, observations, decisions, outages, configuration."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    CycleCompleted,
    Event,
    ExchangeDifference,
    IntentRefused,
    MarketObserved,
    RunConfigured,
    StrategyDecided,
    StrategyFailed,
    StrategyStateChanged,
    ValuationRecorded,
    VenueOutageEnded,
    VenueOutageStarted,
)
from tradeexecutor.state.handlers import (
    handles,
)
from tradeexecutor.state.refusals import Refusal
from tradeexecutor.state.run_configuration import RunConfiguration
from tradeexecutor.state.state import State
from tradeexecutor.state.valuation import ValuationPoint
from tradeexecutor.state.values import ZERO


@handles(ValuationRecorded)
def _valuation_recorded(state: State, event: ValuationRecorded) -> None:
    for pair_id, price in event.prices.items():
        if pair_id not in state.pairs:
            raise InvalidEvent(event, f"price for unknown pair id {pair_id}")
        if price <= 0:
            raise InvalidEvent(event, f"price {price} for pair {pair_id} must be positive")
    _record_valuation(state, event, event.prices)


def _record_valuation(state: State, event: Event, prices: dict[int, Decimal]) -> None:
    """Mark live positions at `prices` (where given) and add a point to the equity curve (its summary
    in the state; the store writes the point itself to the equity file)."""
    portfolio = state.portfolio
    positions_value = ZERO
    for positions in (portfolio.open_positions, portfolio.frozen_positions):
        for position in positions.values():
            price = prices.get(position.pair_id)
            if price is not None:
                position.mark_price = price
            positions_value += position.value
    cash = state.cash()
    state.equity.add(ValuationPoint(event.at, state.cycle, cash + positions_value, cash, positions_value))


@handles(CycleCompleted)
def _cycle_completed(state: State, event: CycleCompleted) -> None:
    if event.cycle != state.cycle + 1:
        raise InvalidEvent(event, f"cycle {event.cycle} does not follow {state.cycle}")
    if not state.uptime.runs:
        raise InvalidEvent(event, "no executor_started event before the first cycle")
    run = state.uptime.runs[-1]
    state.cycle = event.cycle
    run.last_cycle_at = event.at
    run.cycles += 1
    _record_valuation(state, event, state.last_prices)


@handles(MarketObserved)
def _market_observed(state: State, event: MarketObserved) -> None:
    if event.pair_id not in state.pairs:
        raise InvalidEvent(event, f"observation of unknown pair id {event.pair_id}")
    low, high = event.low, event.high
    if not (0 < low <= event.open <= high and low <= event.close <= high):
        raise InvalidEvent(
            event, f"inconsistent candle: open {event.open} high {high} low {low} close {event.close}"
        )
    if event.volume < 0:
        raise InvalidEvent(event, f"negative volume {event.volume}")
    state.last_prices[event.pair_id] = event.close
    if event.pair_id not in state.first_prices:
        state.first_prices[event.pair_id] = event.open


@handles(StrategyDecided)
def _strategy_decided(state: State, event: StrategyDecided) -> None:
    if event.cycle != state.cycle + 1:
        raise InvalidEvent(event, f"decision for cycle {event.cycle} during cycle {state.cycle + 1}")


@handles(StrategyFailed)
def _strategy_failed(state: State, event: StrategyFailed) -> None:
    """Recorded for the operator; the run stops, the money is untouched."""


@handles(ExchangeDifference)
def _exchange_difference(state: State, event: ExchangeDifference) -> None:
    """Recorded for the operator; what to do about it is decided by other events (freeze, repair)."""


@handles(IntentRefused)
def _intent_refused(state: State, event: IntentRefused) -> None:
    """Refusing an intent changes no balance; the state keeps a bounded summary of refusals."""
    state.refusals.add(Refusal(event.at, "intent", event.intent, event.reason))


@handles(VenueOutageStarted)
def _venue_outage_started(state: State, event: VenueOutageStarted) -> None:
    """Recorded for the operator; the venue places no new orders until the outage ends."""
    _check_outage(event, event.venue, event.since)


@handles(VenueOutageEnded)
def _venue_outage_ended(state: State, event: VenueOutageEnded) -> None:
    """Recorded for the operator; trading on the venue resumes."""
    _check_outage(event, event.venue, event.since)


def _check_outage(event: Event, venue: str, since: datetime) -> None:
    if not venue:
        raise InvalidEvent(event, "venue is empty")
    if since > event.at:
        raise InvalidEvent(event, f"outage since {since} is after the event time {event.at}")


@handles(StrategyStateChanged)
def _strategy_state_changed(state: State, event: StrategyStateChanged) -> None:
    current = state.strategy_states.get(event.machine)
    if current != event.from_state:
        raise InvalidEvent(
            event, f"machine {event.machine!r} is in state {current!r}, not {event.from_state!r}"
        )
    if not event.to_state:
        raise InvalidEvent(event, "to_state is empty")
    state.strategy_states[event.machine] = event.to_state


@handles(RunConfigured)
def _run_configured(state: State, event: RunConfigured) -> None:
    for name in ("strategy", "mode", "pair", "fill_at", "data"):
        if not getattr(event, name):
            raise InvalidEvent(event, f"{name} is empty")
    for name in ("strategy_sha256", "data_sha256"):
        digest = getattr(event, name)
        if digest is not None and (len(digest) != 64 or digest.strip("0123456789abcdef")):
            raise InvalidEvent(event, f"{name} {digest!r} is not a sha256 hex digest")
    if not (0 <= event.fee < 1):
        raise InvalidEvent(event, f"fee {event.fee} is outside 0..1")
    if event.slippage_bps < 0:
        raise InvalidEvent(event, f"slippage_bps {event.slippage_bps} is negative")
    if event.initial_cash <= 0:
        raise InvalidEvent(event, f"initial_cash {event.initial_cash} must be positive")
    first, last = event.data_first_at, event.data_last_at
    if first is not None and last is not None and last < first:
        raise InvalidEvent(event, f"data_last_at {last} is before data_first_at {first}")
    if any(not change for change in event.accepted_changes):
        raise InvalidEvent(event, "an accepted change is empty")
    if state.run_configuration is not None and not event.accepted_changes:
        raise InvalidEvent(
            event, "the configuration was recorded already: a new one must list its accepted changes"
        )
    state.run_configuration = RunConfiguration(
        event.strategy, event.strategy_sha256, event.mode, event.pair, event.fee, event.slippage_bps,
        event.fill_at, event.initial_cash, event.data, event.data_sha256, first, last, event.exchange_url,
        dict(event.parameters),
    )  # fmt: skip
