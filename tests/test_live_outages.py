"""A live executor keeps itself running through exchange outages (the fake exchange's faults).

Each outage lasts longer than one call's retry budget (5 attempts): the run records
`venue_outage_started`, sends no new order while the venue is down, records `venue_outage_ended`
when it answers again and trades on. Only an outage longer than `max_outage` stops the run, with
one line. Backoff starts at 10 ms and the ccxt client gives up after 250 ms, to stay quick.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_live_trading import (
    EXECUTOR_ID,
    assert_books_equal,
    candle_clock,
    clean_env,
    cli_command,
    exchange,
    live,
    log_events,
    of_type,
    placements,
    strategy_file,
    use_client_timeout,
)

from tradeexecutor.app.session import SessionConfig, run_session
from tradeexecutor.state.events import CycleCompleted, MarketObserved
from tradeexecutor.state.trade import TradeStatus
from tradeexecutor.store.equity import read_curve
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.strategy.runner import RunSetupError
from tradeexecutor.testing.fake_exchange import TEST_API_KEY, TEST_API_SECRET, FakeExchange

__all__ = ["exchange", "strategy_file"]  # fixtures

CLIENT_TIMEOUT_MS = 250
FAST = {"retry_first_delay": 0.01}
#: Longer than one call's retry budget (5 attempts).
OUTAGE = 7

KINDS: dict[str, dict[str, Any]] = {
    "5xx": {"kind": "http_5xx", "status": 503},
    "429": {"kind": "rate_limit_429", "retry_after": 0.05},
    "timeout": {"kind": "latency", "delay_ms": CLIENT_TIMEOUT_MS * 2},
    "dropped": {"kind": "drop_response"},
}
TARGETS = {
    "candles": "/api/v3/klines",
    "balance": "/api/v3/account",
    "open_orders": "/api/v3/openOrders",
    "trades": "/api/v3/myTrades",
}
OPERATIONS = {
    "candles": "fetch_ohlcv",
    "balance": "fetch_balance",
    "open_orders": "fetch_open_orders",
    "trades": "fetch_my_trades",
}


@pytest.fixture(autouse=True)
def quick_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's ccxt client gives up after CLIENT_TIMEOUT_MS (a timeout is then quick)."""
    use_client_timeout(monkeypatch, CLIENT_TIMEOUT_MS)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_outage_longer_than_the_retry_budget_is_recorded_and_the_run_trades_on_after_it(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path, kind: str, target: str
) -> None:
    path = TARGETS[target]

    def arm(done: int) -> None:
        if done == 1:
            exchange.add_fault(count=OUTAGE, path=path, method="GET", **KINDS[kind])

    state_dir = tmp_path / "state"
    result = live(exchange, strategy_file, state_dir, cycles=6, reconcile_every=1, after_cycle=arm, session=FAST)
    assert result.outcome.cycles_run == 6
    assert sum(1 for r in exchange.requests(path, "GET") if r.faults) == OUTAGE  # the outage was served whole

    events = log_events(state_dir)
    (started,) = of_type(events, "venue_outage_started")
    (ended,) = of_type(events, "venue_outage_ended")
    assert started["seq"] < ended["seq"]
    assert started["data"]["venue"] == ended["data"]["venue"] == "binance"
    assert ended["data"]["since"] == started["data"]["since"] == started["at"]
    operation = OPERATIONS[target]
    assert started["data"]["reason"].startswith(f"{operation}: ")
    assert ended["data"]["reason"] == f"{operation} answers again"
    assert of_type(events, "strategy_failed") == [] and of_type(events, "position_frozen") == []

    state = result.outcome.state
    planned = {e["data"]["trade_id"]: e["seq"] for e in of_type(events, "trade_planned")}
    for trade in state.portfolio.trades.values():
        if started["seq"] < planned[trade.id] < ended["seq"]:  # no new order while the venue was down
            assert trade.status is TradeStatus.rejected
            assert trade.status_reason is not None and trade.status_reason.startswith(
                "not sent: binance has been unreachable since"
            )
            assert placements(exchange, trade.client_order_id) == []
    after = [t for t in state.portfolio.trades.values() if planned[t.id] > ended["seq"]]
    assert after and all(t.status is TradeStatus.filled for t in after)  # trading resumed by itself
    assert_books_equal(state, exchange)


def test_a_rate_limit_is_waited_out_for_as_long_as_retry_after_asks(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path
) -> None:
    def arm(done: int) -> None:
        if done == 1:
            exchange.add_fault("rate_limit_429", count=2, path="/api/v3/account", method="GET", retry_after=0.4)

    live(exchange, strategy_file, tmp_path / "state", cycles=2, reconcile_every=1, after_cycle=arm, session=FAST)
    reads = [r for r in exchange.requests("/api/v3/account", "GET")]
    at = next(i for i, r in enumerate(reads) if r.faults)
    assert [r.status for r in reads[at : at + 3]] == [429, 429, 200]
    assert reads[at + 1].time - reads[at].time >= 390 and reads[at + 2].time - reads[at + 1].time >= 390
    assert of_type(log_events(tmp_path / "state"), "venue_outage_started") == []  # within the budget


def test_outage_longer_than_max_outage_stops_the_run_with_one_line_and_saves_the_state(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path
) -> None:
    def arm(done: int) -> None:
        if done == 1:
            exchange.add_fault("http_5xx", count=100_000, path="/api/v3/klines", method="GET")

    state_dir = tmp_path / "state"
    with pytest.raises(RunSetupError) as raised:
        live(exchange, strategy_file, state_dir, cycles=3, after_cycle=arm, session={**FAST, "max_outage": 0.3})
    message = str(raised.value)
    assert "\n" not in message
    assert re.fullmatch(
        rf"exchange binance at {re.escape(exchange.url)} unreachable for \d+\.\ds, longer than the 0\.3s allowed "
        r"\(--max-outage\): fetch_ohlcv: ExchangeNotAvailable: binance GET \S+/api/v3/klines\?\S+ 503 Service "
        r"Unavailable Service Unavailable; the state is saved, start again once the exchange answers",
        message,
    ), message
    events = log_events(state_dir)
    assert len(of_type(events, "venue_outage_started")) == 1
    assert of_type(events, "strategy_failed") == [] and len(of_type(events, "cycle_completed")) == 1
    assert (state_dir / f"{EXECUTOR_ID}.json").exists()  # the snapshot was written on the way out


def _config(fake: FakeExchange, strategy: Path, state_dir: Path, **overrides: Any) -> SessionConfig:
    return SessionConfig(
        mode="live",
        strategy=str(strategy),
        state_dir=state_dir,
        executor_id=EXECUTOR_ID,
        exchange_url=fake.url,
        api_key=TEST_API_KEY,
        api_secret=TEST_API_SECRET,
        max_cycles=1,
        clock=candle_clock(fake),
        **{**FAST, **overrides},
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_transient_errors_at_start_up_are_retried_and_the_run_starts(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path, kind: str
) -> None:
    for path in ("/api/v3/exchangeInfo", "/api/v3/account", "/api/v3/klines"):
        exchange.add_fault(count=OUTAGE, path=path, method="GET", **KINDS[kind])
    result = run_session(_config(exchange, strategy_file, tmp_path / "state"))
    assert result.outcome.crash is None and result.outcome.cycles_run == 1
    assert exchange.faults.active() == []
    assert len(result.outcome.state.portfolio.trades) == 1


@pytest.mark.parametrize("path", ["/api/v3/exchangeInfo", "/api/v3/account", "/api/v3/klines"])
def test_lasting_exchange_error_at_start_up_is_one_line_naming_the_url(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path, path: str
) -> None:
    exchange.add_fault("http_5xx", count=100_000, path=path, method="GET")
    state_dir = tmp_path / "state"
    with pytest.raises(RunSetupError) as raised:
        run_session(_config(exchange, strategy_file, state_dir, start_up_timeout=0.3))
    message = str(raised.value)
    assert re.fullmatch(
        rf"exchange binance at {re.escape(exchange.url)} unreachable for 0\.3s at start-up: ExchangeNotAvailable: "
        rf"binance GET {re.escape(exchange.url)}{path}\S* 503 Service Unavailable Service Unavailable; "
        r"check --exchange-url",
        message,
    ), message
    assert not (state_dir / f"{EXECUTOR_ID}.events.jsonl").exists()


def test_signed_urls_and_keys_are_redacted_from_recorded_and_raised_errors(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path
) -> None:
    def arm(done: int) -> None:
        if done == 1:
            exchange.add_fault("http_5xx", count=OUTAGE, path="/api/v3/account", method="GET")

    state_dir = tmp_path / "state"
    live(exchange, strategy_file, state_dir, cycles=5, reconcile_every=1, after_cycle=arm, session=FAST)
    (started,) = of_type(log_events(state_dir), "venue_outage_started")
    reason = started["data"]["reason"]
    assert "/api/v3/account?" in reason and "&signature=<redacted> 503" in reason
    assert not re.search(r"signature=[0-9a-f]", reason)
    log_text = (state_dir / f"{EXECUTOR_ID}.events.jsonl").read_text()
    assert TEST_API_KEY not in log_text and TEST_API_SECRET not in log_text
    assert not re.search(r"signature=[0-9a-f]{16}", log_text)

    exchange.add_fault("http_5xx", count=100_000, path="/api/v3/account", method="GET")
    with pytest.raises(RunSetupError) as raised:
        run_session(_config(exchange, strategy_file, state_dir, start_up_timeout=0.2))
    assert "&signature=<redacted> 503" in str(raised.value) and TEST_API_KEY not in str(raised.value)


# --- a restart on the same candle (item 11) ---------------------------------------------------------


@pytest.fixture
def advance_later(exchange: FakeExchange) -> Iterator[threading.Event]:
    """Moves the exchange to its next candle 0.5 s after the test sets the returned event."""
    go, stop = threading.Event(), threading.Event()

    def mover() -> None:
        if go.wait(30) and not stop.wait(0.5):
            exchange.advance()

    thread = threading.Thread(target=mover, daemon=True)
    thread.start()
    yield go
    stop.set()
    go.set()
    thread.join(timeout=5)


def test_a_restart_on_the_same_candle_waits_for_the_next_one(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path, advance_later: threading.Event
) -> None:
    state_dir = tmp_path / "state"
    first = live(exchange, strategy_file, state_dir, cycles=1, advance=False, mode="idle")
    (done_at,) = [at for at, _ in read_curve(first.paths.equity)]
    advance_later.set()  # no new candle yet when the second run starts
    second = live(exchange, strategy_file, state_dir, cycles=1, advance=False, mode="idle")
    times = [at for at, _ in read_curve(second.paths.equity)]
    assert times == [done_at, done_at + timedelta(minutes=1)]  # the next candle, not the same one again
    observed = [e["at"] for e in of_type(log_events(state_dir), "market_observed")]
    assert len(observed) == len(set(observed)) == 2


def test_a_state_already_holding_two_cycles_on_one_candle_loads_and_trades(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path, advance_later: threading.Event
) -> None:
    state_dir = tmp_path / "state"
    first = live(exchange, strategy_file, state_dir, cycles=1, advance=False, mode="idle")
    state = first.outcome.state
    at = state.equity.last_at
    assert at is not None
    price = exchange.price()
    with StateStore(state_dir, EXECUTOR_ID) as store:  # what the old feed wrote on a same-candle restart
        store.record([MarketObserved(at, 1, price, price, price, price, Decimal(100)), CycleCompleted(at, 2)])
    advance_later.set()
    again = live(exchange, strategy_file, state_dir, cycles=1, advance=False, accept_config_change=True, mode="buy_once")
    state = again.outcome.state
    assert [t for t, _ in read_curve(again.paths.equity)] == [at, at, at + timedelta(minutes=1)]
    assert state.portfolio.trades[1].status is TradeStatus.filled
    assert_books_equal(state, exchange)


def test_the_cli_stops_after_max_outage_with_one_line_and_exit_2(
    exchange: FakeExchange, strategy_file: Path, tmp_path: Path
) -> None:
    exchange.add_fault("http_5xx", count=100_000, path="/api/v3/openOrders", method="GET")
    command = [
        *cli_command(), "start", "--mode", "live", "--exchange-url", exchange.url, "--strategy", str(strategy_file),
        "--param", "mode=idle", "--max-cycles", "3", "--reconcile-every", "1", "--max-outage", "0.5",
        "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    env = clean_env(TRADE_EXECUTOR_API_KEY=TEST_API_KEY, TRADE_EXECUTOR_API_SECRET=TEST_API_SECRET)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(
        rf"error: exchange binance at {re.escape(exchange.url)} unreachable for \d+\.\ds, longer than the 0\.5s "
        r"allowed \(--max-outage\): fetch_open_orders: ExchangeNotAvailable: binance GET \S+&signature=<redacted> "
        r"503 Service Unavailable Service Unavailable; the state is saved, start again once the exchange answers",
        line,
    ), line
    assert TEST_API_KEY not in done.stderr
