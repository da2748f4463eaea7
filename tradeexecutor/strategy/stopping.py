"""Stopping a run on SIGTERM or SIGINT without tearing a cycle in half.

The handler only notes the signal; the runner checks it after each cycle, saves and stops. Where
nothing is being recorded, waiting for the next candle, pacing between cycles or inside a strategy
hook, the handler raises `StopRequested` at once, so a stop does not wait for a slow strategy or a
long cycle: the cycle in progress is abandoned before anything of its decision was recorded, which
is what a restart after a kill does too. Python runs handlers on the main thread only, so they are
installed only when the runner runs there.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(BaseException):
    """A stop signal arrived while the runner was somewhere it may be abandoned."""


class StopSignals:
    def __init__(self) -> None:
        self.requested: int | None = None
        #: True where a signal may interrupt at once: set and cleared by the runner around waits
        #: and strategy hooks (an attribute rather than a context manager: it is set every cycle).
        self.interruptible = False

    @property
    def name(self) -> str | None:
        return signal.Signals(self.requested).name if self.requested is not None else None

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is None:
            self.requested = signum
        if self.interruptible:
            self.interruptible = False
            raise StopRequested(signum)
