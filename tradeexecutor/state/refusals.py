"""A bounded summary of what did not get through: refused intents and rejected orders.

A run whose every intent is refused or whose every order is rejected must not look like a quiet
success, so `show` and the end of `start` report them. The log keeps every one; the state keeps
only a summary of a fixed size, so the snapshot does not grow with them: the total, a count per
reason (at most `MAX_REASONS` distinct reasons, the rest counted together), and the last
`RECENT` refusals with their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradeexecutor.state.values import format_time, parse_time

MAX_REASONS = 20
RECENT = 10
REASON_LENGTH = 200
OTHER_REASONS = "(other reasons)"


@dataclass(slots=True, frozen=True)
class Refusal:
    """One refused intent (`kind` "intent") or rejected order (`kind` "order")."""

    at: datetime
    kind: str
    subject: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": format_time(self.at), "kind": self.kind, "subject": self.subject, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Refusal:
        return cls(parse_time(data["at"]), data["kind"], data["subject"], data["reason"])


@dataclass(slots=True)
class Refusals:
    intents: int = 0
    orders: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    recent: list[Refusal] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.intents + self.orders

    def add(self, refusal: Refusal) -> None:
        """Count one (the reducer's job)."""
        if refusal.kind == "intent":
            self.intents += 1
        else:
            self.orders += 1
        reason = refusal.reason[:REASON_LENGTH]
        if reason not in self.by_reason and len(self.by_reason) >= MAX_REASONS:
            reason = OTHER_REASONS
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        self.recent.append(refusal)
        if len(self.recent) > RECENT:
            del self.recent[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "intents": self.intents,
            "orders": self.orders,
            "by_reason": dict(self.by_reason),
            "recent": [r.to_dict() for r in self.recent],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Refusals:
        """`None` (a snapshot written before refusals were summarised) gives an empty summary."""
        if data is None:
            return cls()
        return cls(
            intents=data["intents"],
            orders=data["orders"],
            by_reason=dict(data["by_reason"]),
            recent=[Refusal.from_dict(r) for r in data["recent"]],
        )
