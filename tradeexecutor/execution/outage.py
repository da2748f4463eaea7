"""Venue outages: a venue that stays unreachable after its retries is down until it answers again.

The live venue and its candle feed report every exchange call that used up its retries
(`failed`) and every call that succeeded (`succeeded`), by operation (`fetch_balance`,
`fetch_my_trades`, ...). The venue is down while at least one operation's last call failed:
an outage starts with the first such failure and ends when every failing operation has
succeeded again. Both moments are recorded as events (`venue_outage_started`,
`venue_outage_ended`). While down, the venue places no new orders and probes with single
attempts; the executor keeps running and resumes by itself. Only an outage longer than
`max_outage` seconds stops the run (`check` raises `VenueOutageTooLong`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from tradeexecutor.redaction import redact
from tradeexecutor.state.events import Event, VenueOutageEnded, VenueOutageStarted

Record = Callable[[Sequence[Event]], None]


class VenueOutageTooLong(Exception):
    """The venue has been unreachable for longer than the configured limit."""


def describe(exc: BaseException) -> str:
    """One line naming the error, without credentials."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class VenueHealth:
    def __init__(
        self,
        venue: str,
        clock: Callable[[], datetime],
        max_outage: float = 600.0,
        where: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`where` names the venue in messages (e.g. its URL); `max_outage` 0 means no limit."""
        self.venue = venue
        self.clock = clock
        self.max_outage = max_outage
        self.where = where or venue
        self.monotonic = monotonic
        self.failing: dict[str, str] = {}
        self.since: datetime | None = None
        self._since_monotonic = 0.0
        self._record: Record | None = None
        self._pending: list[Event] = []

    def attach(self, record: Record) -> None:
        """Record outage events through `record` from now on (and the ones noted before)."""
        self._record = record
        pending, self._pending = self._pending, []
        if pending:
            record(pending)

    def _emit(self, event: Event) -> None:
        if self._record is None:
            self._pending.append(event)
        else:
            self._record([event])

    @property
    def down(self) -> bool:
        return bool(self.failing)

    def is_failing(self, operation: str) -> bool:
        return operation in self.failing

    @property
    def reason(self) -> str:
        return "; ".join(f"{op}: {why}" for op, why in self.failing.items())

    def failed(self, operation: str, exc: BaseException) -> None:
        """`operation` used up its retries with `exc`."""
        first = not self.failing
        self.failing[operation] = describe(exc)
        if first:
            self.since = self.clock()
            self._since_monotonic = self.monotonic()
            self._emit(VenueOutageStarted(self.since, self.venue, f"{operation}: {self.failing[operation]}", self.since))

    def succeeded(self, operation: str) -> None:
        """`operation` answered; the outage ends when no operation is failing any more."""
        if operation not in self.failing:
            return
        del self.failing[operation]
        if not self.failing and self.since is not None:
            since, self.since = self.since, None
            self._emit(VenueOutageEnded(self.clock(), self.venue, f"{operation} answers again", since))

    def outage_seconds(self) -> float:
        return self.monotonic() - self._since_monotonic if self.failing else 0.0

    def check(self) -> None:
        """Raise `VenueOutageTooLong` if the venue has been down for longer than `max_outage`."""
        if not self.failing or not self.max_outage:
            return
        lasted = self.outage_seconds()
        if lasted > self.max_outage:
            raise VenueOutageTooLong(
                f"exchange {self.where} unreachable for {lasted:.1f}s, longer than the "
                f"{self.max_outage:g}s allowed (--max-outage): {self.reason}; the state is saved, "
                "start again once the exchange answers"
            )
