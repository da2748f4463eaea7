"""`SnapshotWriter`: writes snapshots on a thread of its own, off the trading loop's path.

The loop encodes a snapshot (fast: history is kept encoded) and hands it over with what remains
to be done to its bytes (the seal: a digest of them all); the thread does that and writes them
atomically (temp file, fsync, rename, fsync folder). Only the newest snapshot handed over is
written: one still waiting when a newer one comes is dropped, never written after it, so the
file only moves forward. Handing over never waits for the disk.

The bytes are taken after the cycle's events are in the log, so a snapshot is never ahead of
the log. A failed write is kept in `failure`; the store reports it as its one-line error at its
next use and stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tradeexecutor.state.events import (
    BalanceCorrected,
    DepositMade,
    Event,
    FeeCharged,
    FillReceived,
    FundingPaid,
    LogRepairApplied,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderRejected,
    OrderSubmitted,
    PositionFrozen,
    PositionUnfrozen,
    RepairApplied,
    TradePlanned,
    WithdrawalMade,
)
from tradeexecutor.store.fsync import write_atomically


class SnapshotWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.failure: OSError | None = None
        self._changed = threading.Condition()
        self._pending: Callable[[], Sequence[bytes | memoryview]] | None = None
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"snapshot writer {path.name}", daemon=True)
        self._thread.start()

    def submit(self, make: Callable[[], Sequence[bytes | memoryview]]) -> None:
        """Write the pieces `make()` gives (called on the writer's thread) soon, instead of any
        snapshot still waiting; returns at once."""
        with self._changed:
            if self._closing:
                raise RuntimeError("SnapshotWriter used after close()")
            self._pending = make
            self._changed.notify_all()

    def wait(self) -> None:
        """Return when everything handed over is on disk, or a write failed (see `failure`)."""
        with self._changed:
            while (self._pending is not None or self._busy) and self.failure is None:
                self._changed.wait()

    def close(self) -> None:
        """Write what is waiting, then stop the thread."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._pending is None and not self._closing:
                    self._changed.wait()
                make = self._pending
                if make is None:
                    return  # closing, and nothing left to write
                self._pending = None
                self._busy = True
            failure: OSError | None = None
            try:
                write_atomically(self.path, make())
            except OSError as exc:
                failure = exc
            except Exception as exc:  # noqa: BLE001 - reported by the store, like a failed write
                failure = OSError(f"{type(exc).__name__}: {exc}")
            with self._changed:
                self._busy = False
                if failure is not None:
                    self.failure = failure
                    self._pending = None
                self._changed.notify_all()
            if failure is not None:
                return


#: The events after which a running executor saves its snapshot at the end of the cycle: those
#: that move money or orders (fills, cancels, deposits, rejections, fees, funding, freezing).
MONEY_EVENTS: frozenset[type[Event]] = frozenset(
    {
        DepositMade,
        WithdrawalMade,
        FeeCharged,
        FundingPaid,
        BalanceCorrected,
        TradePlanned,
        OrderSubmitted,
        FillReceived,
        OrderCancelled,
        OrderRejected,
        OrderExpired,
        OrderFailed,
        PositionFrozen,
        PositionUnfrozen,
        RepairApplied,
        LogRepairApplied,
    }
)
