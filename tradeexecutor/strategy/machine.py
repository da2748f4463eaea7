"""A helper for strategies that are state machines (READY_TO_BUY -> BUYING -> ...).

The machine's current state lives in `State.strategy_states`, changed only through
`strategy_state_changed` events, so a restarted executor resumes in the state it left.
A strategy calls `machine.go(cycle, "BUYING")` and returns the resulting `Transition` with its
other intents; an undeclared transition raises at once, in the strategy's own cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tradeexecutor.state.state import State
from tradeexecutor.strategy.intents import Transition


class InvalidTransition(ValueError):
    pass


class StateMachine:
    def __init__(self, name: str, initial: str, transitions: Mapping[str, Iterable[str]]) -> None:
        self.name = name
        self.initial = initial
        self.transitions = {source: frozenset(targets) for source, targets in transitions.items()}
        known = set(self.transitions) | {t for targets in self.transitions.values() for t in targets}
        if initial not in known:
            raise ValueError(f"initial state {initial!r} is not among the machine's states {sorted(known)}")
        self.states = frozenset(known)

    def current(self, state: State) -> str:
        """The machine's state as recorded in `state` (the initial state before any transition)."""
        return state.strategy_states.get(self.name, self.initial)

    def recorded(self, state: State) -> str | None:
        return state.strategy_states.get(self.name)

    def go(self, state: State, target: str) -> Transition:
        source = self.current(state)
        if target not in self.transitions.get(source, frozenset()):
            allowed = sorted(self.transitions.get(source, frozenset()))
            raise InvalidTransition(f"{self.name}: {source} -> {target} is not allowed (from {source}: {allowed})")
        return Transition(self.name, self.recorded(state), target)
