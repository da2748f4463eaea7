"""Every venue implements the whole `Venue` protocol: the runner calls each capability directly."""

from __future__ import annotations

import inspect
from decimal import Decimal

import pytest

import tradeexecutor.strategy.runner as runner_module
from tradeexecutor.execution.ccxt_venue import CcxtVenue
from tradeexecutor.execution.simulated import SimulatedVenue
from tradeexecutor.execution.venue import Venue

CAPABILITIES = ["on_cycle", "submit", "cancel", "recover", "adopt_open_orders", "reconcile", "round_quantity"]


def test_the_protocol_declares_every_capability_the_runner_uses() -> None:
    declared = [name for name, _ in inspect.getmembers(Venue, inspect.isfunction) if not name.startswith("_")]
    assert sorted(declared) == sorted(CAPABILITIES)
    assert "getattr(self.venue" not in inspect.getsource(runner_module)


@pytest.mark.parametrize("venue_class", [SimulatedVenue, CcxtVenue])
@pytest.mark.parametrize("name", CAPABILITIES)
def test_each_venue_implements_each_capability_with_the_protocols_parameters(venue_class: type, name: str) -> None:
    wanted = list(inspect.signature(getattr(Venue, name)).parameters)
    got = list(inspect.signature(getattr(venue_class, name)).parameters)
    assert got[: len(wanted)] == wanted


def test_the_simulator_has_nothing_to_reconcile_and_takes_any_quantity() -> None:
    from datetime import UTC, datetime

    from tradeexecutor.state.state import State

    venue = SimulatedVenue()
    assert venue.reconcile(State(), lambda events: None, datetime(2024, 1, 1, tzinfo=UTC)) == []
    assert venue.round_quantity(Decimal("0.123456789")) == Decimal("0.123456789")
