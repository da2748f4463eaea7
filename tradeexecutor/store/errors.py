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
    """The snapshot cannot be read or does not agree with the log. `problem` is the message
    without the file name and the repair command (the repair plan quotes it)."""

    def __init__(self, message: str, problem: str | None = None) -> None:
        super().__init__(message)
        self.problem = message if problem is None else problem


class StateLocked(StoreError):
    """Another process holds the state folder's lock."""


class InvalidExecutorId(StoreError):
    """An executor id that cannot name files safely."""


class WriteFailed(StoreError, OSError):
    """Writing the log or the snapshot failed (a full disk, a file size limit, an I/O error).

    The log is left at its last whole record (`durable_seq`); the store that raised this is broken
    and refuses further records and snapshots, so the process stops. It is an OSError too, with
    the failed call's errno, so callers that tell a full disk from other failures still can."""

    def __init__(self, message: str, durable_seq: int, cause: OSError) -> None:
        OSError.__init__(self, cause.errno, cause.strerror, cause.filename)
        self.message = message
        self.durable_seq = durable_seq

    def __str__(self) -> str:
        return self.message


class StoreBroken(StoreError):
    """A write failed earlier in this process: nothing more is recorded or snapshotted."""
