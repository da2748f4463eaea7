"""Errors of the on-disk store. Each message says what is wrong, where, and what to do."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """Base of store errors; the CLI prints the message without a traceback."""


def repair_hint(state_dir: Path, executor_id: str) -> str:
    return f"run `trade-executor repair --state-dir {state_dir} --id {executor_id}` to fix it (it backs up first)"


class CorruptLog(StoreError):
    """The event log has a torn or damaged record, or a gap in its sequence numbers."""

    def __init__(self, path: Path, line_number: int, offset: int, problem: str, hint: str) -> None:
        self.path = path
        self.line_number = line_number
        self.offset = offset
        self.problem = problem
        super().__init__(
            f"event log {path} is damaged at line {line_number} (byte {offset}): {problem}; {hint}"
        )


class CorruptSnapshot(StoreError):
    """The snapshot cannot be read or does not agree with the log."""


class StateLocked(StoreError):
    """Another process holds the state folder's lock."""


class InvalidExecutorId(StoreError):
    """An executor id that cannot name files safely."""
