"""`RunState`: what the running process knows about itself, for `/status` and the summary.

One instance per process (`RUN_STATE`). It is not part of the event-sourced `State`: it
describes this process (uptime, last crash, feed lag), not the money. A crash keeps its traceback
serialised with tblib so the web API can show it after the trading loop died.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from tblib import Traceback  # type: ignore[import-untyped]

from tradeexecutor import __version__
from tradeexecutor.redaction import redact
from tradeexecutor.state.values import format_optional_time
from tradeexecutor.strategy.sandbox import trimmed


@dataclass
class Crash:
    at: datetime
    cycle: int
    error: str
    traceback: dict[str, Any]
    #: The strategy failed (then `error` is a whole sentence naming it), not the venue or the runner.
    by_strategy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_optional_time(self.at),
            "cycle": self.cycle,
            "error": self.error,
            "traceback": self.traceback,
            "by_strategy": self.by_strategy,
        }

    def format(self) -> str:
        """The traceback as text again, rebuilt from its serialised form."""
        import traceback as tb_module

        rebuilt = Traceback.from_dict(self.traceback).as_traceback()
        return "".join(tb_module.format_tb(rebuilt))


@dataclass
class RunState:
    executor_id: str | None = None
    version: str = __version__
    mode: str | None = None
    started_at: datetime | None = None
    refreshed_at: datetime | None = None
    running: bool = False
    cycles: int = 0
    last_cycle: int | None = None
    last_cycle_at: datetime | None = None
    position_revaluations: int = 0
    trigger_checks: int = 0
    frozen_positions: int = 0
    last_crash: Crash | None = None
    strategy_path: str | None = None
    strategy_source_sha256: str | None = None
    summary_statistics: dict[str, Any] = field(default_factory=dict)
    feed_lag_seconds: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def started(self, executor_id: str, mode: str, at: datetime, strategy_path: str, sha256: str) -> None:
        with self.lock:
            self.executor_id, self.mode, self.started_at = executor_id, mode, at
            self.refreshed_at, self.running = at, True
            self.strategy_path, self.strategy_source_sha256 = strategy_path, sha256
            self.last_crash = None

    def cycle_done(
        self, cycle: int, at: datetime, revaluations: int, frozen: int, lag_seconds: float | None
    ) -> None:
        with self.lock:
            self.cycles += 1
            self.last_cycle, self.last_cycle_at, self.refreshed_at = cycle, at, at
            self.position_revaluations += revaluations
            self.trigger_checks += 1
            self.frozen_positions = frozen
            self.feed_lag_seconds = lag_seconds

    def crashed(
        self,
        at: datetime,
        cycle: int,
        exc: BaseException,
        error: str | None = None,
        tb: TracebackType | None = None,
        by_strategy: bool = False,
    ) -> Crash:
        """Note the crash: `error` is the one-line message (default: the exception's type and
        text); the traceback kept is `tb`, or the exception's trimmed to a few frames at each end
        (a RecursionError's thousand frames would be too deep for tblib to serialise)."""
        tb = trimmed(exc.__traceback__) if tb is None else tb
        crash = Crash(
            at=at,
            cycle=cycle,
            error=redact(f"{type(exc).__name__}: {exc}" if error is None else error),
            traceback=Traceback(tb).to_dict() if tb is not None else {},
            by_strategy=by_strategy,
        )
        with self.lock:
            self.last_crash, self.running = crash, False
        return crash

    def stopped(self) -> None:
        with self.lock:
            self.running = False

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "executor_id": self.executor_id,
                "version": self.version,
                "mode": self.mode,
                "started_at": format_optional_time(self.started_at),
                "refreshed_at": format_optional_time(self.refreshed_at),
                "running": self.running,
                "cycles": self.cycles,
                "last_cycle": self.last_cycle,
                "last_cycle_at": format_optional_time(self.last_cycle_at),
                "position_revaluations": self.position_revaluations,
                "trigger_checks": self.trigger_checks,
                "frozen_positions": self.frozen_positions,
                "last_crash": self.last_crash.to_dict() if self.last_crash else None,
                "strategy_path": self.strategy_path,
                "strategy_source_sha256": self.strategy_source_sha256,
                "summary_statistics": self.summary_statistics,
                "feed_lag_seconds": self.feed_lag_seconds,
            }


RUN_STATE = RunState()
