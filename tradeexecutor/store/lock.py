"""One writer per executor state: a file lock held for the life of the process."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from tradeexecutor.store.errors import StateLocked


class WriterLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = FileLock(str(path), timeout=0)

    def acquire(self) -> None:
        try:
            self._lock.acquire()
        except Timeout:
            raise StateLocked(
                f"another trade-executor process is writing this state (lock {self.path} is held); "
                "stop it first, or use a different --id or --state-dir"
            ) from None

    def release(self) -> None:
        self._lock.release()
