"""Clients for the fake exchange: a configured ccxt ``binance`` and a control client.

Why: tests and the executor must build the ccxt client the same way, so that it
talks only to the fake server (no hidden calls to binance.com) and maps its
errors the way the executor expects. The control client drives a server that runs
in another process through the ``/_fake/`` endpoints.

ccxt 4.5.90 settings used by :func:`make_ccxt_client`:

* ``options.fetchMarkets = {"types": ["spot"]}``: load_markets only calls
  ``GET /api/v3/exchangeInfo`` (the default also loads futures markets from fapi/dapi);
* ``options.fetchCurrencies = False``: no signed ``sapi/v1/capital/config/getall``;
* ``options.fetchMargins = False``: no ``sapi/v1/margin/allPairs`` calls;
* ``options.adjustForTimeDifference = False``: no ``/api/v3/time`` at load time;
* every URL in ``urls["api"]`` (and the ``test``/``demo`` sets used by sandbox or
  demo mode) is re-rooted at the server, keeping its path (``/api/v3``, ``/sapi/v1`` ...);
* ccxt applies Binance's spot-only error table only to ``https://api.binance.com``
  URLs, so it is merged into the generic one here, and Binance's
  ``-1013 Filter failure: NOTIONAL`` / ``MIN_NOTIONAL`` (BadRequest by default) are
  mapped to ``InvalidOrder`` like the other filter failures;
* ``enableRateLimit = False`` and a ``timeout`` in ms.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any

import ccxt
import orjson

from tradeexecutor.execution.exchange_client import make_exchange

__all__ = ["ControlClient", "make_ccxt_client"]


def make_ccxt_client(base_url: str, api_key: str, secret: str, timeout_ms: int = 5_000) -> ccxt.binance:
    """A ccxt binance client whose every request goes to ``base_url`` (see module docstring)."""
    return make_exchange("binance", api_key, secret, base_url=base_url, timeout_ms=timeout_ms)


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuntimeError(f"the fake exchange answered {value!r}, not a JSON object")
    return value


def _objects(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise RuntimeError(f"the fake exchange answered {value!r}, not a list of JSON objects")
    return value


class ControlClient:
    """Drives a fake exchange over its ``/_fake/`` HTTP endpoints (stdlib only)."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise RuntimeError(f"{method} {path} failed with {err.code}: {detail}") from err

    def state(self) -> dict[str, Any]:
        """``GET /_fake/state``."""
        return _object(self._call("GET", "/_fake/state"))

    def advance(self, n: int = 1) -> dict[str, Any]:
        """``POST /_fake/advance``."""
        return _object(self._call("POST", "/_fake/advance", {"n": n}))

    def deposit(self, asset: str, amount: Decimal | str | int, api_key: str | None = None) -> dict[str, Any]:
        """``POST /_fake/deposit``."""
        body: dict[str, Any] = {"asset": asset, "amount": str(amount)}
        if api_key:
            body["api_key"] = api_key
        return _object(self._call("POST", "/_fake/deposit", body))

    def add_account(self, api_key: str, secret: str) -> dict[str, Any]:
        """``POST /_fake/accounts``."""
        return _object(self._call("POST", "/_fake/accounts", {"api_key": api_key, "secret": secret}))

    def add_fault(self, kind: str, count: int = 1, **fields: Any) -> list[dict[str, Any]]:
        """``POST /_fake/faults``; returns the armed faults."""
        return _objects(self._call("POST", "/_fake/faults", {"kind": kind, "count": count, **fields})["faults"])

    def faults(self) -> list[dict[str, Any]]:
        """``GET /_fake/faults``."""
        return _objects(self._call("GET", "/_fake/faults")["faults"])

    def clear_faults(self) -> None:
        """``DELETE /_fake/faults``."""
        self._call("DELETE", "/_fake/faults")

    def requests(self) -> list[dict[str, Any]]:
        """``GET /_fake/requests``."""
        return _objects(self._call("GET", "/_fake/requests"))

    def clear_requests(self) -> None:
        """``DELETE /_fake/requests``."""
        self._call("DELETE", "/_fake/requests")
