"""Fault injection and the request log of the fake exchange.

Why: an executor must survive a flaky exchange without ever placing an order
twice. Faults reproduce the failure modes that matter (slow answers, 5xx, 429,
an order accepted but its answer lost to a timeout or a dropped connection), and
the request log lets a test check afterwards what actually reached the exchange.

Each fault applies to the next ``count`` requests that match its ``path`` and
``method`` (None matches any) and is then cleared. Control requests under
``/_fake/`` are never faulted nor logged.

Kinds:

* ``latency``: sleep ``delay_ms`` before handling the request.
* ``http_5xx``: answer ``status`` (default 503) with a plain-text body; the request is not applied.
* ``rate_limit_429``: answer 429 with Binance's -1003 body and ``Retry-After: retry_after``
  (seconds, default 1; fractions allowed so tests stay quick); not applied.
* ``http_error``: answer ``status`` (any 4xx/5xx, e.g. a proxy's 404 or 403 page) with a
  plain-text body; not applied.
* ``timeout_after_accept``: apply the request, then sleep ``delay_ms`` before answering.
  Without a path it targets order placement (``POST /api/v3/order``). Choose
  ``delay_ms`` above the client's timeout.
* ``drop_response``: apply the request, then close the connection without any answer.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Fault", "FaultInjector", "FaultKind", "RequestLog", "RequestRecord"]


class FaultKind(StrEnum):
    """The supported failure modes."""

    LATENCY = "latency"
    HTTP_5XX = "http_5xx"
    RATE_LIMIT_429 = "rate_limit_429"
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"
    DROP_RESPONSE = "drop_response"
    HTTP_ERROR = "http_error"


_DEFAULT_DELAY_MS = {
    FaultKind.LATENCY: 200,
    FaultKind.TIMEOUT_AFTER_ACCEPT: 15_000,
}


@dataclass(slots=True)
class Fault:
    """One armed fault; ``count`` is how many more matching requests it affects."""

    kind: FaultKind
    count: int = 1
    path: str | None = None
    method: str | None = None
    delay_ms: int | None = None
    status: int = 503
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if self.method is not None:
            self.method = self.method.upper()
        if self.kind is FaultKind.TIMEOUT_AFTER_ACCEPT and self.path is None:
            self.path = "/api/v3/order"
            self.method = self.method or "POST"
        if self.delay_ms is None:
            self.delay_ms = _DEFAULT_DELAY_MS.get(self.kind, 0)
        if self.delay_ms < 0:
            raise ValueError("delay_ms must be >= 0")
        if self.kind is FaultKind.HTTP_5XX and not 500 <= self.status <= 599:
            raise ValueError("http_5xx status must be 5xx")
        if self.kind is FaultKind.HTTP_ERROR and not 400 <= self.status <= 599:
            raise ValueError("http_error status must be 4xx or 5xx")
        if self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is targeted by this fault."""
        return (self.path is None or self.path == path) and (self.method is None or self.method == method)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (used by the control endpoint)."""
        data = asdict(self)
        data["kind"] = str(self.kind)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        """Build from the control endpoint's JSON; unknown keys are an error."""
        allowed = {"kind", "count", "path", "method", "delay_ms", "status", "retry_after"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "kind" not in data:
            raise ValueError("fault needs a 'kind'")
        return cls(**data)


class FaultInjector:
    """Thread-safe set of armed faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Arm a fault."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        """Copies of the armed faults."""
        with self._lock:
            return [Fault(**asdict(f)) for f in self._faults]

    def take(self, method: str, path: str) -> list[Fault]:
        """Consume one use of every fault matching this request and return them."""
        taken: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if fault.matches(method, path):
                    taken.append(Fault(**{**asdict(fault), "count": 1}))
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
        return taken


@dataclass(slots=True)
class RequestRecord:
    """What reached the exchange: one API request and how it was answered.

    ``status`` is the HTTP status sent, or 0 when the connection was dropped.
    ``client_order_id`` is ``newClientOrderId`` or ``origClientOrderId`` when present.
    """

    time: int
    method: str
    path: str
    api_key: str | None
    client_order_id: str | None
    params: dict[str, str]
    status: int = 0
    error_code: int | None = None
    faults: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)


class RequestLog:
    """Append-only, thread-safe list of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        """Add a record."""
        with self._lock:
            self._records.append(record)

    def records(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Records so far, optionally filtered by exact path and method."""
        with self._lock:
            return [
                r
                for r in self._records
                if (path is None or r.path == path) and (method is None or r.method == method.upper())
            ]

    def clear(self) -> None:
        """Forget all records."""
        with self._lock:
            self._records.clear()
