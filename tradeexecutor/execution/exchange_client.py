"""Building the ccxt client of the live venue.

Settings for ccxt 4.5 `binance` (spot):
* `options.fetchMarkets = {"types": ["spot"]}`: `load_markets` only calls `GET /api/v3/exchangeInfo`;
* `fetchCurrencies` and `fetchMargins` off: no signed `sapi` calls at start-up;
* `adjustForTimeDifference` off;
* with `base_url` (`--exchange-url`), every URL in `urls["api"]` (and the `test`/`demo` sets) is
  re-rooted there, keeping its path (`/api/v3`, `/sapi/v1`, ...): how tests and users point the
  executor at `trade-executor fake-exchange`;
* ccxt applies Binance's spot error table only to `https://api.binance.com` URLs, so it is merged
  into the generic one, and `-1013 Filter failure: NOTIONAL`/`MIN_NOTIONAL` (a `BadRequest` by
  default) become `InvalidOrder` like the other filter failures.
The API key and secret are passed in memory only: never logged, never written to state or events.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import ccxt


def _rebase(value: Any, base_url: str) -> Any:
    """Point an http(s) URL, or every URL in a nested dict, at `base_url` keeping the path."""
    if isinstance(value, dict):
        return {k: _rebase(v, base_url) for k, v in value.items()}
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return base_url + urlsplit(value).path
    return value


def make_exchange(
    exchange_id: str, api_key: str, secret: str, base_url: str | None = None, timeout_ms: int = 10_000
) -> ccxt.Exchange:
    if exchange_id != "binance":
        raise ValueError(f"exchange {exchange_id!r} is not supported yet; supported: binance")
    exchange = ccxt.binance(
        {
            "apiKey": api_key,
            "secret": secret,
            "enableRateLimit": base_url is None,
            "timeout": timeout_ms,
            "options": {
                "defaultType": "spot",
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "adjustForTimeDifference": False,
            },
        }
    )
    if base_url is not None:
        base = base_url.rstrip("/")
        urls = dict(exchange.urls)
        for group in ("api", "test", "demo"):
            if group in urls:
                urls[group] = _rebase(urls[group], base)
        exchange.urls = urls
    exceptions = dict(exchange.exceptions)
    spot = exceptions.get("spot", {})
    exceptions["exact"] = {**exceptions.get("exact", {}), **spot.get("exact", {})}
    exceptions["broad"] = {
        **exceptions.get("broad", {}),
        **spot.get("broad", {}),
        "Filter failure: NOTIONAL": ccxt.InvalidOrder,
        "Filter failure: MIN_NOTIONAL": ccxt.InvalidOrder,
    }
    exchange.exceptions = exceptions
    return exchange
