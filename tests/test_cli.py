"""The command line, run as users run it: a subprocess in a scratch folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradeexecutor.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_start_with_no_options_runs_the_embedded_default_in_paper_mode(tmp_path: Path) -> None:
    result = cli("start", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "paper run of 2000 candles: 2000 cycles" in result.stdout
    assert "Total return" in result.stdout and "Sharpe ratio" in result.stdout
    assert (tmp_path / "state" / "default.events.jsonl").exists()
    assert (tmp_path / "state" / "default.json").exists()
    assert "Traceback" not in result.stderr
    # Starting again resumes after the last cycle: nothing is traded twice.
    again = cli("start", cwd=tmp_path)
    assert again.returncode == 0
    assert "nothing to do" in again.stdout
    replay = cli("replay", cwd=tmp_path)
    assert replay.returncode == 0, replay.stdout
    lines = [line for line in replay.stdout.splitlines() if "sha256" in line]
    assert len(lines) == 2 and lines[0].split()[-1] == lines[1].split()[-1]


def test_same_backtest_twice_writes_byte_identical_files_and_replay_matches(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        result = cli("backtest", "--max-cycles", "700", "--param", "fast=5", cwd=tmp_path / folder)
        assert result.returncode == 0, result.stderr
    for name in ("default.events.jsonl", "default.json"):
        assert digest(tmp_path / "a" / "state" / name) == digest(tmp_path / "b" / "state" / name)
    replay = cli("replay", cwd=tmp_path / "a")
    assert replay.returncode == 0 and "match:" in replay.stdout


def test_re_decide_matches_the_same_strategy_and_reports_the_first_differing_cycle(tmp_path: Path) -> None:
    assert cli("backtest", cwd=tmp_path).returncode == 0
    same = cli("replay", "--re-decide", "--strategy", "sma_crossover", cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "every decision matches" in same.stdout
    other = cli("replay", "--re-decide", "--strategy", "sma_crossover", "--param", "slow=21", cwd=tmp_path)
    assert other.returncode == 1
    assert "differs:" in other.stdout and "recorded:" in other.stdout


def test_tampered_snapshot_makes_replay_exit_1_with_both_digests(tmp_path: Path) -> None:
    assert cli("backtest", "--max-cycles", "50", cwd=tmp_path).returncode == 0
    snapshot = tmp_path / "state" / "default.json"
    snapshot.write_bytes(snapshot.read_bytes().replace(b'"cycle":50', b'"cycle":51', 1))
    replay = cli("replay", cwd=tmp_path)
    assert replay.returncode == 1
    assert "MISMATCH" in replay.stdout and replay.stdout.count("sha256") == 2


def test_a_backtest_refuses_to_overwrite_an_existing_state_unless_fresh(tmp_path: Path) -> None:
    assert cli("backtest", "--max-cycles", "10", cwd=tmp_path).returncode == 0
    refused = cli("backtest", "--max-cycles", "10", cwd=tmp_path)
    assert refused.returncode == 2
    assert "already exists" in refused.stderr and "--fresh" in refused.stderr
    fresh = cli("backtest", "--max-cycles", "10", "--fresh", cwd=tmp_path)
    assert fresh.returncode == 0
    assert list((tmp_path / "state").glob("default.backup-*/default.events.jsonl"))


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["start", "--fee", "2"],
            "error: Invalid value for '--fee': '2' is not at least 0 and below 1 (see `trade-executor start --help`)",
        ),
        (["start", "--data", "missing.csv"], "error: data file missing.csv does not exist (give --data a CSV or ccxt OHLCV JSON file)"),
        (["start", "--start", "2031-01-01"], "error: no candles between 2031-01-01 00:00:00+00:00 and the end (the data covers 2025-01-01 00:00 to 2025-03-25 07:00)"),
    ],
)
def test_bad_input_gets_a_one_line_error_not_a_traceback(tmp_path: Path, args: list[str], line: str) -> None:
    """As a real process: the console script's exit code and stderr (the other cases: test_cli_errors)."""
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line]


def test_options_can_come_from_environment_variables(tmp_path: Path) -> None:
    result = cli("backtest", cwd=tmp_path, env={"TRADE_EXECUTOR_MAX_CYCLES": "25", "TRADE_EXECUTOR_ID": "envrun"})
    assert result.returncode == 0, result.stderr
    assert "25 cycles" in result.stdout
    assert (tmp_path / "state" / "envrun.events.jsonl").exists()


def test_a_failing_strategy_exits_1_naming_file_and_line_and_keeps_the_state(tmp_path: Path) -> None:
    strategy = tmp_path / "broken.py"
    strategy.write_text("def decide(cycle):\n    if cycle.cycle == 30:\n        raise RuntimeError('boom')\n    return []\n")
    result = cli("backtest", "--strategy", str(strategy), cwd=tmp_path)
    assert result.returncode == 1
    assert "error: strategy broken failed in decide at cycle 30: RuntimeError: boom" in result.stderr
    assert f'File "{strategy}", line 3' in result.stderr
    log = (tmp_path / "state" / "default.events.jsonl").read_text()
    assert '"type":"strategy_failed"' in log
    assert cli("replay", cwd=tmp_path).returncode == 0


def test_show_lists_reserves_positions_and_trades(tmp_path: Path) -> None:
    assert cli("backtest", "--max-cycles", "300", cwd=tmp_path).returncode == 0
    shown = cli("show", "--trades", "3", cwd=tmp_path)
    assert shown.returncode == 0
    for heading in ("Reserves", "Open and frozen positions", "Closed positions", "Recent trades"):
        assert heading in shown.stdout
    assert "0E-" not in shown.stdout
