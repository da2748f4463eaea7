"""Calling a strategy's hooks so that no misbehaviour of the strategy can harm the run's record.

Each call of `decide`, `on_start` or `on_fill` goes through `StrategyCaller.call`, which turns
whatever goes wrong into one `StrategyFailure` with a one-line message naming the strategy, the
hook and the cycle:

* an exception, including `RecursionError` (its traceback is trimmed to a few frames at each end,
  so that the formatted text and tblib's serialised form stay small);
* `sys.exit()`/`raise SystemExit` and `os._exit()`: `os._exit` is replaced during the call by a
  function that raises instead, so a strategy cannot end the process without a record;
* a write to the read-only state it was handed (see `readonly.py`), even one it caught itself;
* a call that runs longer than the time limit. The limit uses `signal.setitimer` (SIGALRM), whose
  handler raises `HookTimeout` in the strategy's own frame, so that even a pure-Python busy loop is
  interrupted and the process keeps running in a known state. Python runs signal handlers on the
  main thread only, so the limit applies where the runner runs on the main thread of a POSIX
  process (as `trade-executor start` does); elsewhere it is not enforced. `HookTimeout` derives
  from `BaseException`, so a strategy's `except Exception:` does not swallow it; the timer repeats
  every second after the limit, so neither does a bare `except:` in a loop.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any, NoReturn

from tradeexecutor.strategy.readonly import MutationGuard

#: Frames kept at each end of a strategy's traceback (a RecursionError has about a thousand).
TRACEBACK_FRAMES = 8


class StrategyFailure(Exception):
    """The strategy failed; `message` is the one line for the user, `kind` what went wrong."""

    def __init__(self, message: str, kind: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "exception", "exit", "mutation", "timeout"
        self.cause = cause

    def traceback_text(self) -> str:
        """The cause's traceback, trimmed, as text (what the `strategy_failed` event keeps)."""
        cause = self.cause if self.cause is not None else self
        text = "".join(traceback.format_exception(type(cause), cause, trimmed(cause.__traceback__)))
        return f"{text}{self.message}\n" if self.cause is not None else text

    def trimmed_traceback(self) -> TracebackType | None:
        cause = self.cause if self.cause is not None else self
        return trimmed(cause.__traceback__)


class HookTimeout(BaseException):
    """Raised by the SIGALRM handler inside a strategy hook that ran out of time."""


class _ProcessExit(SystemExit):
    """What `os._exit` raises while a strategy hook runs."""


def _refuse_os_exit(status: int) -> NoReturn:
    raise _ProcessExit(status)


def trimmed(tb: TracebackType | None, keep: int = TRACEBACK_FRAMES) -> TracebackType | None:
    """The traceback with at most `keep` frames at each end (a new chain; `tb` is unchanged)."""
    entries: list[TracebackType] = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if len(entries) > 2 * keep:
        entries = entries[:keep] + entries[-keep:]
    rebuilt: TracebackType | None = None
    for entry in reversed(entries):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


class StrategyCaller:
    """Calls one strategy's hooks for one run: `timeout` seconds per call (None: no limit)."""

    def __init__(self, strategy_name: str, timeout: float | None = None) -> None:
        self.name = strategy_name
        self.timeout = timeout if timeout else None
        self._armed = False
        self._timer_installed = False

    @contextmanager
    def installed(self) -> Iterator[StrategyCaller]:
        """Install the SIGALRM handler for the run (when there is a limit and it can be enforced)."""
        can_time = (
            self.timeout is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if not can_time:
            yield self
            return
        # Someone else's timer (pytest-timeout uses SIGALRM too) is suspended during the run and
        # set again afterwards with what was left of it.
        previous_timer = signal.setitimer(signal.ITIMER_REAL, 0)
        suspended_at = time.monotonic()
        previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._timer_installed = True
        try:
            yield self
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._timer_installed = False
            signal.signal(signal.SIGALRM, previous)
            if previous_timer[0] > 0:
                left = previous_timer[0] - (time.monotonic() - suspended_at)
                signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), previous_timer[1])

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            raise HookTimeout()

    def call(self, hook: str, function: Callable[..., Any], cycle: int, guard: MutationGuard, *args: Any) -> Any:
        """`function(*args)`, or `StrategyFailure` saying what went wrong in `hook` at `cycle`."""
        saved_exit = os._exit
        os._exit = _refuse_os_exit
        timed = self._timer_installed
        written: BaseException | None = None
        if timed:
            assert self.timeout is not None
            self._armed = True
            signal.setitimer(signal.ITIMER_REAL, self.timeout, 1.0)
        try:
            result = function(*args)
        except HookTimeout as exc:
            raise StrategyFailure(
                f"strategy {self.name} took longer than {self.timeout:g}s in {hook} at cycle {cycle}; "
                "raise --decide-timeout or fix the strategy",
                "timeout",
                exc,
            ) from None
        except SystemExit as exc:
            call = "os._exit" if isinstance(exc, _ProcessExit) else "sys.exit"
            raise StrategyFailure(
                f"strategy {self.name} called {call}({exc.code!r}) in {hook} at cycle {cycle}; "
                "a strategy must return intents, not end the process",
                "exit",
                exc,
            ) from None
        except Exception as exc:
            if guard.attempt is None:
                raise StrategyFailure(
                    f"strategy {self.name} failed in {hook} at cycle {cycle}: {type(exc).__name__}: {exc}",
                    "exception",
                    exc,
                ) from None
            result, written = None, exc  # the write it attempted is the failure reported below
        finally:
            if timed:
                self._armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
            os._exit = saved_exit
        if guard.attempt is not None:
            raise StrategyFailure(
                f"strategy {self.name} tried to change the state in {hook} at cycle {cycle} ({guard.attempt}); "
                "strategies must not mutate State: return intents instead",
                "mutation",
                written,
            )
        return result
