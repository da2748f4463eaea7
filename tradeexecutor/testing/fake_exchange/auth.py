"""Binance-style request signing, checked by the fake exchange.

Why: the executor's credentials handling should be exercised for real; the
server verifies the ``X-MBX-APIKEY`` header and the HMAC-SHA256 ``signature`` of
"query string + request body" exactly as Binance does, so a wrong key or secret
fails the same way it would in production.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable

from .errors import BinanceError

__all__ = ["TEST_API_KEY", "TEST_API_SECRET", "sign", "strip_signature", "verify_request"]

#: Default credentials of the fake exchange's built-in account (64 characters, like Binance keys).
TEST_API_KEY = "FakeExchangeTestApiKey" + "0" * 42
TEST_API_SECRET = "FakeExchangeTestSecret" + "0" * 42

_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{64}$")


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload``, as Binance expects in ``signature``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split ``a=1&signature=xx`` into the signed part and the signature."""
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def verify_request(
    api_key: str | None,
    query: str,
    body: str,
    params: dict[str, str],
    secret_for: Callable[[str], str | None],
    timestamp_tolerance_ms: int = 300_000,
) -> str:
    """Check key, signature and (leniently) timestamp; returns the API key.

    Unknown keys of Binance's format get -2015, malformed ones -2014 (both HTTP 401);
    a bad signature is -1022. The timestamp may be off by ``timestamp_tolerance_ms``
    or by ``recvWindow``, whichever is larger.
    """
    if not api_key:
        raise BinanceError(-2014, "API-key format invalid.", 401)
    secret = secret_for(api_key)
    if secret is None:
        if _KEY_FORMAT.match(api_key):
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        raise BinanceError(-2014, "API-key format invalid.", 401)
    signed_query, sig_in_query = strip_signature(query)
    signed_body, sig_in_body = strip_signature(body)
    signature = sig_in_query or sig_in_body
    if not signature:
        raise BinanceError(
            -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        )
    expected = sign(secret, signed_query + signed_body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")
    stamp = params.get("timestamp", "")
    if not stamp.isdigit():
        raise BinanceError(
            -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        )
    window = params.get("recvWindow", "")
    tolerance = max(timestamp_tolerance_ms, int(window) if window.isdigit() else 0)
    if abs(time.time() * 1000 - int(stamp)) > tolerance:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
    return api_key
