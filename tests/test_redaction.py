"""Signatures, API keys and secrets never reach an event, RunState or stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from test_live_trading import clean_env, cli_command

from tradeexecutor.redaction import redact, register_secret

SIGNED = (
    "binance GET https://api.binance.com/api/v3/account?timestamp=1796167401184&recvWindow=10000"
    "&signature=5c46b1bdcb5c318314c0357de94fbf7726a25bab46dcfd78fb2048e83a713b0e 503 Service Unavailable"
)
KEY = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01"


def test_redact_removes_signatures_keys_and_registered_secrets() -> None:
    assert redact(SIGNED) == SIGNED.split("&signature=")[0] + "&signature=<redacted> 503 Service Unavailable"
    headers = f"{{'X-MBX-APIKEY': '{KEY}', \"apiKey\": \"{KEY}\"}} X-MBX-APIKEY: {KEY} apiKey={KEY}&x=1"
    assert KEY not in redact(headers)
    assert redact(headers).count("<redacted>") == 4
    register_secret("TopSecretValue-42")
    assert redact("it said TopSecretValue-42 twice: TopSecretValue-42") == "it said <redacted> twice: <redacted>"
    assert redact("nothing secret here, price=30000&qty=1") == "nothing secret here, price=30000&qty=1"


STRATEGY = f'''
"""Fails the way an exchange call with a signed URL fails."""


def decide(cycle):
    raise RuntimeError({SIGNED!r} + " headers {{'X-MBX-APIKEY': '{KEY}'}}")
'''


def test_a_failure_quoting_a_signed_request_is_recorded_and_printed_redacted(tmp_path: Path) -> None:
    strategy = tmp_path / "leaky.py"
    strategy.write_text(STRATEGY)
    state_dir = tmp_path / "state"
    command = [*cli_command(), "start", "--strategy", str(strategy), "--max-cycles", "1", "--state-dir", str(state_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 1, done.stderr
    assert "&signature=<redacted> 503" in done.stderr
    assert "X-MBX-APIKEY': '<redacted>'" in done.stderr
    events = [json.loads(line) for line in (state_dir / "default.events.jsonl").read_text().splitlines()]
    (failed,) = [e for e in events if e["type"] == "strategy_failed"]
    for text in (failed["data"]["error"], failed["data"]["traceback"], done.stderr):
        assert KEY not in text and "5c46b1bd" not in text
    assert "&signature=<redacted> 503" in failed["data"]["error"]
    assert "&signature=<redacted> 503" in failed["data"]["traceback"]
