"""Where an executor's files live: `DIR/ID.events.jsonl`, `DIR/ID.json`, `DIR/ID.equity.jsonl`, `DIR/ID.lock`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tradeexecutor.store.errors import InvalidExecutorId

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

DEFAULT_EXECUTOR_ID = "default"


@dataclass(frozen=True, slots=True)
class StatePaths:
    state_dir: Path
    executor_id: str

    def __post_init__(self) -> None:
        if not _ID_PATTERN.match(self.executor_id):
            raise InvalidExecutorId(
                f"executor id {self.executor_id!r} is not valid: use 1-100 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )

    @property
    def log(self) -> Path:
        return self.state_dir / f"{self.executor_id}.events.jsonl"

    @property
    def snapshot(self) -> Path:
        return self.state_dir / f"{self.executor_id}.json"

    @property
    def equity(self) -> Path:
        """The equity curve, one valuation point a line (`store/equity.py`)."""
        return self.state_dir / f"{self.executor_id}.equity.jsonl"

    @property
    def lock(self) -> Path:
        return self.state_dir / f"{self.executor_id}.lock"
