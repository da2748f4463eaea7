"""Uptime: each run of the executor process and how far it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradeexecutor.state.values import format_optional_time, format_time, parse_optional_time, parse_time


@dataclass(slots=True)
class Run:
    started_at: datetime
    version: str
    mode: str
    last_cycle_at: datetime | None = None
    cycles: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": format_time(self.started_at),
            "version": self.version,
            "mode": self.mode,
            "last_cycle_at": format_optional_time(self.last_cycle_at),
            "cycles": self.cycles,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(
            started_at=parse_time(data["started_at"]),
            version=data["version"],
            mode=data["mode"],
            last_cycle_at=parse_optional_time(data["last_cycle_at"]),
            cycles=data["cycles"],
        )


@dataclass(slots=True)
class Uptime:
    runs: list[Run] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [run.to_dict() for run in self.runs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Uptime:
        return cls(runs=[Run.from_dict(run) for run in data["runs"]])
