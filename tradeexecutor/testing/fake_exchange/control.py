"""The fake exchange's control endpoints under ``/_fake/`` (no authentication).

Why: a test, or a process driving a fake exchange in another process, moves prices, funds
accounts, arms faults and reads what reached the exchange, over plain JSON.

* ``GET /_fake/state`` - markets, balances, orders and trades (decimal strings)
* ``POST /_fake/advance`` ``{"n": 1}`` - move to the next candle(s)
* ``POST /_fake/deposit`` ``{"asset": "USDT", "amount": "100", "api_key": optional}``
* ``POST /_fake/accounts`` ``{"api_key": ..., "secret": ...}`` - add an account
* ``GET|POST|DELETE /_fake/faults`` - list, arm (one fault object, a list, or
  ``{"faults": [...]}``) or clear faults; see :mod:`.faults`
* ``GET|DELETE /_fake/requests`` - read or clear the request log
"""

from __future__ import annotations

from decimal import localcontext
from typing import Any

import orjson

from .auth import TEST_API_KEY
from .decimals import CTX, fmt, parse_decimal
from .errors import BinanceError
from .faults import Fault, FaultInjector, RequestLog
from .http_server import Responder
from .matching import MatchingEngine
from .wire import state_json

__all__ = ["ControlApi"]


class ControlApi:
    """Serves ``/_fake/...``."""

    def __init__(self, engine: MatchingEngine, faults: FaultInjector, request_log: RequestLog) -> None:
        self.engine = engine
        self.faults = faults
        self.request_log = request_log

    def handle(self, h: Responder, method: str, path: str, body: str) -> None:
        """Serve ``/_fake/...``; errors answer 400 with ``{"error": ...}``."""
        try:
            data: Any = orjson.loads(body) if body.strip() else {}
            status, answer = self._control(method, path, data)
        except (ValueError, TypeError, KeyError, AttributeError, BinanceError, orjson.JSONDecodeError) as exc:
            status, answer = 400, {"error": str(exc)}
        h.send_json(status, answer)

    def _control(self, method: str, path: str, data: Any) -> tuple[int, Any]:
        engine = self.engine
        if (method, path) == ("GET", "/_fake/state"):
            with engine.lock, localcontext(CTX):
                return 200, state_json(engine)
        if (method, path) == ("POST", "/_fake/advance"):
            moved = engine.advance(int(data.get("n", 1)))
            with engine.lock:
                prices = {
                    s.spec.symbol: {"index": s.index, "price": fmt(s.candle.close)} for s in engine.markets()
                }
            return 200, {"advanced": moved, "markets": prices}
        if (method, path) == ("POST", "/_fake/deposit"):
            asset = str(data["asset"]).upper()
            bal = engine.deposit(
                str(data.get("api_key") or TEST_API_KEY), asset, parse_decimal(str(data["amount"]))
            )
            return 200, {"asset": asset, "free": fmt(bal.free), "locked": fmt(bal.locked)}
        if (method, path) == ("POST", "/_fake/accounts"):
            engine.add_account(str(data["api_key"]), str(data["secret"]))
            return 200, {"api_key": data["api_key"]}
        if path == "/_fake/faults":
            if method == "POST":
                items = data.get("faults", [data]) if isinstance(data, dict) else data
                for item in items:
                    self.faults.add(Fault.from_json(item))
            elif method == "DELETE":
                self.faults.clear()
            elif method != "GET":
                return 405, {"error": "method not allowed"}
            return 200, {"faults": [f.to_json() for f in self.faults.active()]}
        if path == "/_fake/requests":
            if method == "DELETE":
                self.request_log.clear()
            elif method != "GET":
                return 405, {"error": "method not allowed"}
            return 200, [r.to_json() for r in self.request_log.records()]
        return 404, {"error": f"unknown control endpoint {method} {path}"}
