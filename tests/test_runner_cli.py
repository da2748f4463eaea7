"""How a run ends, seen from the command line: a stop signal, nothing to do, nothing that got
through, a strategy that fails. Subprocesses in a scratch folder, as users run them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tradeexecutor.app.session import SessionConfig, run_session
from tradeexecutor.cli.start import report_outcome
from tradeexecutor.market.candles import Candle
from tradeexecutor.state.values import utc

#: The installed `trade-executor` command (the module when the script is not installed).
_SCRIPT = Path(sys.executable).parent / "trade-executor"
EXECUTABLE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "tradeexecutor.cli.main"]
SAMPLE = Path(__file__).resolve().parent.parent / "tradeexecutor" / "data" / "sample_btc_usdt_1h.csv"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeexecutor.cli.main", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def small_data(folder: Path, rows: int = 60) -> Path:
    """The first `rows` hours of the bundled sample."""
    path = folder / "small.csv"
    path.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[: rows + 1]))
    return path


def write_strategy(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(
        "import os, sys\nfrom decimal import Decimal\n"
        "from tradeexecutor.strategy.intents import market_buy, market_sell\n\n" + body
    )
    return path


# --- SIGTERM -------------------------------------------------------------------------------------


def cycles_in(log: Path) -> int:
    return log.read_text().count('"type":"cycle_completed"') if log.exists() else 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"])
def test_a_stop_signal_ends_a_paper_run_with_the_state_saved(tmp_path: Path, signum: int, code: int) -> None:
    log = tmp_path / "state" / "default.events.jsonl"
    process = subprocess.Popen(
        [*EXECUTABLE, "start", "--cycle-duration", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while cycles_in(log) < 3 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    cycles = cycles_in(log)
    assert cycles >= 3
    name = signal.Signals(signum).name
    assert stderr.strip().splitlines()[-1] == f"stopped by {name} at cycle {cycles}; state saved"
    assert "Summary" in stdout
    assert (tmp_path / "state" / "default.json").exists()
    replay = cli("replay", cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout
    assert "match: the snapshot equals the state rebuilt from the log" in replay.stdout
    assert "note: the log holds" not in replay.stdout  # the snapshot is at the end of the log


# --- nothing to do -------------------------------------------------------------------------------


def test_start_with_the_data_exhausted_says_nothing_to_do_and_leaves_the_log_unchanged(tmp_path: Path) -> None:
    data = small_data(tmp_path)
    first = cli("start", "--data", str(data), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    log = tmp_path / "state" / "default.events.jsonl"
    before = log.read_bytes()
    again = cli("start", "--data", str(data), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(
        "nothing to do: the state is already past the last candle (60 cycles done); use --fresh to start over"
    )
    assert log.read_bytes() == before
    assert cli("replay", cwd=tmp_path).returncode == 0


# --- nothing got through ---------------------------------------------------------------------------


def test_a_run_whose_every_intent_is_refused_warns_and_exits_3_and_show_lists_the_reasons(tmp_path: Path) -> None:
    strategy = write_strategy(
        tmp_path, "seller", "def decide(cycle):\n    return [market_sell(quantity=Decimal('1'))]\n"
    )
    result = cli("backtest", "--data", str(small_data(tmp_path, 30)), "--strategy", str(strategy), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "refused or rejected in this run: 30 intents refused, 0 orders rejected" in result.stdout
    assert "  30 x no BTC position to sell on spot BTC/USDT" in result.stdout
    assert result.stderr.strip() == (
        "warning: nothing got through in this run: 30 intents refused, 0 orders rejected, no order was carried out "
        "(exit code 3); the reasons are listed above"
    )
    show = cli("show", cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert "Refused intents and rejected orders (30 intents refused, 0 orders rejected; last 10)" in show.stdout
    lines = [line for line in show.stdout.splitlines() if "no BTC position to sell on spot BTC/USDT" in line]
    assert len(lines) == 10 and lines[-1].startswith("2025-01-02 05:00:00  intent  market sell quantity=1")


def test_a_run_with_some_refusals_but_trades_exits_0_and_lists_them(tmp_path: Path) -> None:
    strategy = write_strategy(
        tmp_path,
        "mixed",
        "def decide(cycle):\n"
        "    if cycle.cycle == 1:\n        return [market_buy(value=Decimal('100'))]\n"
        "    if cycle.cycle == 2:\n        return [market_buy(value=Decimal('1e9'))]\n"
        "    return []\n",
    )
    result = cli("backtest", "--data", str(small_data(tmp_path, 5)), "--strategy", str(strategy), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "refused or rejected in this run: 0 intents refused, 1 orders rejected" in result.stdout
    assert "  1 x insufficient USDT reserve: needs 1000999999.9998750824, has 9899.9002835992" in result.stdout
    assert result.stderr == ""


def test_rejected_orders_are_summarised_in_the_state_and_a_run_of_them_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulator rejects a buy beyond the cash; the reducer keeps the reason."""
    candles = [
        Candle(utc(2026, 1, 1, hour), Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal(1))
        for hour in range(4)
    ]
    strategy = write_strategy(tmp_path, "greedy", "def decide(cycle):\n    return [market_buy(quantity=Decimal('200'))]\n")
    config = SessionConfig(mode="backtest", strategy=str(strategy), candles=candles, state_dir=tmp_path / "state")
    result = run_session(config)
    outcome = result.outcome
    assert (outcome.refused_intents, outcome.rejected_orders, outcome.orders_planned) == (0, 4, 4)
    refusals = outcome.state.refusals
    assert (refusals.intents, refusals.orders) == (0, 4)
    (reason,) = refusals.by_reason
    assert refusals.by_reason[reason] == 4 and outcome.refusals == [(reason, 4)]
    assert [r.subject for r in refusals.recent] == [f"trade {i}: market buy 200" for i in range(1, 5)]
    assert report_outcome(result, None) == 3
    assert f"  4 x {reason}" in capsys.readouterr().out


# --- strategy failures, as printed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "def decide(cycle):\n    if cycle.cycle == 12:\n        cycle.state.portfolio.reserves['USDT'] += 1\n    return []\n",
            "error: strategy culprit tried to change the state in decide at cycle 12 (state.portfolio.reserves); "
            "strategies must not mutate State: return intents instead",
        ),
        (
            "def decide(cycle):\n    if cycle.cycle == 4:\n        sys.exit(0)\n    return []\n",
            "error: strategy culprit called sys.exit(0) in decide at cycle 4; "
            "a strategy must return intents, not end the process",
        ),
        (
            "def decide(cycle):\n    if cycle.cycle == 4:\n        os._exit(0)\n    return []\n",
            "error: strategy culprit called os._exit(0) in decide at cycle 4; "
            "a strategy must return intents, not end the process",
        ),
        (
            "def down(n):\n    return down(n + 1)\n\ndef decide(cycle):\n    return down(0) if cycle.cycle == 3 else []\n",
            "error: strategy culprit failed in decide at cycle 3: RecursionError: maximum recursion depth exceeded",
        ),
    ],
    ids=["mutation", "sys.exit", "os._exit", "recursion"],
)
def test_a_failing_strategy_prints_one_line_naming_it_and_exits_1(tmp_path: Path, body: str, message: str) -> None:
    strategy = write_strategy(tmp_path, "culprit", body)
    result = cli("backtest", "--data", str(small_data(tmp_path, 20)), "--strategy", str(strategy), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == message
    assert lines[1].startswith(f'  File "{strategy}", line ')
    assert "Traceback" not in result.stderr and "During handling" not in result.stderr
    assert '"type":"strategy_failed"' in (tmp_path / "state" / "default.events.jsonl").read_text()
    assert cli("replay", cwd=tmp_path).returncode == 0


def test_a_hanging_strategy_in_paper_mode_is_stopped_with_the_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = write_strategy(tmp_path, "hang", "def decide(cycle):\n    while cycle.cycle == 2:\n        pass\n    return []\n")
    config = SessionConfig(
        mode="paper", strategy=str(strategy), data=small_data(tmp_path, 5), state_dir=tmp_path / "state", decide_timeout=0.5
    )
    code = report_outcome(run_session(config), None)
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "error: strategy hang took longer than 0.5s in decide at cycle 2; raise --decide-timeout or fix the strategy"
    )
    assert err[1] == f'  File "{strategy}", line 6, in decide'  # the loop
