"""Removing credentials from error texts before they are recorded, kept or printed.

ccxt puts the whole request URL into its exception messages, and a signed Binance request carries
its HMAC `signature` (and sometimes the API key) in the query string. Such a message may end up in
an event (`strategy_failed`, `order_failed`, `venue_outage_started`), in RunState (served by the
web API) or on stderr: every one of those texts goes through `redact` first.

The patterns cover the query-string, header and JSON spellings of a signature, an API key and a
secret. Exact values the process knows to be secret (the configured key and secret) can be
registered with `register_secret`, so they are removed wherever they appear.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact", "register_secret"]

REDACTED = "<redacted>"

_NAMES = r"signature|apiKey|api_key|apikey|secret|api_secret|X-MBX-APIKEY|X-MBX-SIGNATURE|password|passphrase"
#: `name=value` (query strings, bodies), `name: value` (headers), `"name": "value"` (JSON, reprs).
_PATTERNS = (
    re.compile(rf"(?i)(\b(?:{_NAMES})=)[^&\s'\"]+"),
    re.compile(rf"(?i)(['\"](?:{_NAMES})['\"]\s*:\s*['\"])[^'\"]*"),
    re.compile(rf"(?i)(\b(?:{_NAMES}):\s*)[^\s,'\"}}]+"),
)
#: Values no text may show, whatever surrounds them (shorter ones would redact ordinary words).
_MIN_SECRET_LENGTH = 8
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a credential of this process; `redact` removes it from every text from now on."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _secrets.add(value)


def redact(text: str) -> str:
    """`text` with signatures, API keys and secrets replaced by `<redacted>`."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
