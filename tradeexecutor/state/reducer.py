"""The reducer: `apply(state, event)` is the only code that changes a `State`.

Each handler first checks every invariant it needs and only then mutates, so an `InvalidEvent`
always leaves the state exactly as it was. Decimal arithmetic is exact for sums and products of
the values we store; the one division (average entry price) uses a fixed context so a replay on
any machine rounds the same way.
"""

from __future__ import annotations

import decimal
from typing import Any

# Importing the handler modules registers their handlers.
from tradeexecutor.state import reducer_accounts, reducer_cycles, reducer_repair, reducer_trades  # noqa: F401
from tradeexecutor.state.errors import InvalidEvent
from tradeexecutor.state.events import (
    Event,
    StateCreated,
)
from tradeexecutor.state.handlers import HANDLERS
from tradeexecutor.state.state import VALUATION_CONTEXT, State


def _normalise_decimal_context() -> None:
    """Make this thread's decimal context the one the reducer's arithmetic assumes.

    Libraries change the thread's context behind our back (ccxt sets ROUND_HALF_UP on every
    call), and a product that needs rounding would then differ between the live process and a
    replay. Checking two attributes is far cheaper than entering a local context per event.
    """
    context = decimal.getcontext()
    if context.prec != VALUATION_CONTEXT.prec or context.rounding != VALUATION_CONTEXT.rounding:
        context.prec = VALUATION_CONTEXT.prec
        context.rounding = VALUATION_CONTEXT.rounding


def apply(state: State, event: Event, seq: int | None = None) -> State:
    """Apply one event; `seq`, when given, must be the next sequence number. Returns `state`."""
    handler = HANDLERS.get(type(event))
    if handler is None:
        raise InvalidEvent(event, f"no reducer handles {type(event).__name__}")
    expected = state.last_event_seq + 1
    if seq is not None and seq != expected:
        raise InvalidEvent(event, f"sequence number {seq} does not follow {state.last_event_seq}")
    if state.created_at is None and type(event) is not StateCreated:
        raise InvalidEvent(event, "the state does not exist yet: the first event must be state_created")
    _normalise_decimal_context()
    handler(state, event)
    state.last_event_seq = expected
    return state


def fold(events: Any, state: State | None = None) -> State:
    """`state = fold(apply, events, State())`: rebuild a state from an iterable of events."""
    state = State() if state is None else state
    for event in events:
        apply(state, event)
    return state
