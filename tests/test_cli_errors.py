"""Bad command-line input: one `error: ...` line naming the option and what is allowed, exit 2,
checked before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import error_line, invoke

HELP = " (see `trade-executor start --help`)"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["start", "--fee", "2"], "error: Invalid value for '--fee': '2' is not at least 0 and below 1" + HELP),
        (["start", "--fee", "-0.01"], "error: Invalid value for '--fee': '-0.01' is not at least 0 and below 1" + HELP),
        (["start", "--fee", "1"], "error: Invalid value for '--fee': '1' is not at least 0 and below 1" + HELP),
        (
            ["start", "--slippage-bps", "-500"],
            "error: Invalid value for '--slippage-bps': '-500' is not at least 0 and below 10000" + HELP,
        ),
        (
            ["start", "--slippage-bps", "10000"],
            "error: Invalid value for '--slippage-bps': '10000' is not at least 0 and below 10000" + HELP,
        ),
        (
            ["start", "--initial-cash", "1e30"],
            "error: Invalid value for '--initial-cash': '1e30' is not above 0 and at most 1e15" + HELP,
        ),
        (
            ["start", "--initial-cash", "0"],
            "error: Invalid value for '--initial-cash': '0' is not above 0 and at most 1e15" + HELP,
        ),
        (["start", "--initial-cash", "lots"], "error: Invalid value for '--initial-cash': 'lots' is not a number" + HELP),
        (["start", "--initial-cash", "NaN"], "error: Invalid value for '--initial-cash': 'NaN' is not a finite number" + HELP),
        (
            ["start", "--cycle-duration", "inf"],
            "error: Invalid value for '--cycle-duration': 'inf' is not a finite duration" + HELP,
        ),
        (
            ["start", "--cycle-duration", "-5"],
            "error: Invalid value for '--cycle-duration': '-5' must not be negative" + HELP,
        ),
        (
            ["start", "--cycle-duration", "soon"],
            "error: Invalid value for '--cycle-duration': 'soon' is not a duration like 60, 90s, 5m or 1h" + HELP,
        ),
        (
            ["start", "--mode", "sim"],
            "error: Invalid value for '--mode': 'sim' is not one of 'backtest', 'paper', 'live'." + HELP,
        ),
        (["start", "--max-cycles", "0"], "error: Invalid value for '--max-cycles': 0 is not in the range x>=1." + HELP),
        (
            ["start", "--decide-timeout", "inf"],
            "error: Invalid value for '--decide-timeout': 'inf' is not a finite duration" + HELP,
        ),
        (
            ["start", "--snapshot-every", "-5"],
            "error: Invalid value for '--snapshot-every': '-5' must not be negative" + HELP,
        ),
        (
            ["start", "--max-intents-per-cycle", "0"],
            "error: Invalid value for '--max-intents-per-cycle': 0 is not in the range x>=1." + HELP,
        ),
        (
            ["start", "--start", "yesterday"],
            "error: Invalid value for '--start': 'yesterday' is not a date like 2025-01-31 or 2025-01-31T12:00Z" + HELP,
        ),
        (["start", "--param", "fast"], "error: Invalid value for '--param': expected NAME=VALUE, got 'fast'" + HELP),
        (["start", "--no-such-option"], "error: No such option '--no-such-option'." + HELP),
        (
            ["fake-exchange", "--port", "99999"],
            "error: Invalid value for '--port': 99999 is not in the range 0<=x<=65535. "
            "(see `trade-executor fake-exchange --help`)",
        ),
        (["start", "--report", "out.txt"], "error: --report out.txt: the file must end in .html or .png"),
        (
            ["start", "--report", "missing/report.html"],
            "error: --report missing/report.html: the folder missing does not exist; create it first",
        ),
        (
            ["start", "--pair", "btc/usdt"],
            "error: --pair btc/usdt: pairs are upper-case BASE/QUOTE as in ccxt; did you mean BTC/USDT?",
        ),
        (
            ["start", "--pair", "BTC/EUR"],
            "error: --pair BTC/EUR: the data bundled sample (sample_btc_usdt_1h.csv) is BTC/USDT candles, "
            "it has no BTC/EUR; use --pair BTC/USDT or give --data for BTC/EUR",
        ),
        (["start", "--pair", "BTCUSDT"], "error: --pair BTCUSDT is not of the form BASE/QUOTE (e.g. BTC/USDT)"),
        (
            ["show", "--id", "../x"],
            "error: executor id '../x' is not valid: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        ),
        (
            ["start", "--strategy", "no_such_strategy"],
            "error: no strategy named 'no_such_strategy': pass a path to a .py file, or one of the bundled "
            "examples ['buy_sell_cycle', 'sma_crossover']",
        ),
        (
            ["start", "--mode", "live"],
            "error: live mode needs the exchange API key and secret in the environment variables "
            "TRADE_EXECUTOR_API_KEY and TRADE_EXECUTOR_API_SECRET",
        ),
    ],
)
def test_bad_option_values_get_one_line_and_exit_2_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], line: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert error_line(result) == line
    assert result.stdout == ""
    assert not (tmp_path / "state" / "default.events.jsonl").exists()


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("start", env={"TRADE_EXECUTOR_FEE": "2"})
    assert result.exit_code == 2
    assert error_line(result) == (
        "error: Invalid value for '--fee' (from the environment variable TRADE_EXECUTOR_FEE): "
        "'2' is not at least 0 and below 1" + HELP
    )


def test_the_largest_initial_cash_runs_through_without_decimal_overflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("backtest", "--initial-cash", "1e15")
    assert result.exit_code == 0, result.stderr
    assert "backtest run of 2000 candles: 2000 cycles" in result.stdout


def test_a_state_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = invoke("start", "--state-dir", str(blocker))
    assert result.exit_code == 2
    assert error_line(result) == f"error: --state-dir {blocker} is a file, not a folder; give a folder for the state files"
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    ("folder", "line"),
    [
        (
            "/proc/trade-executor-state",
            "error: --state-dir /proc/trade-executor-state: cannot create the folder (No such file or directory); "
            "give a folder you can write to",
        ),
        (
            "/proc",
            "error: --state-dir /proc: cannot write files in the folder (No such file or directory); "
            "give a folder you can write to",
        ),
    ],
)
def test_a_state_dir_under_proc_is_not_called_a_held_lock(folder: str, line: str) -> None:
    if not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    result = invoke("backtest", "--state-dir", folder)
    assert result.exit_code == 2
    assert error_line(result) == line
    assert "lock" not in result.stderr


def test_an_unwritable_state_dir_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: make the write itself fail as it does for others
        import tempfile

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    else:
        folder.chmod(0o555)
    try:
        result = invoke("start", "--state-dir", str(folder))
    finally:
        folder.chmod(0o755)
    assert result.exit_code == 2
    assert error_line(result) == (
        f"error: --state-dir {folder}: cannot write files in the folder (Permission denied); "
        "give a folder you can write to"
    )
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("command", [["show", "--trades", "5000"], ["start", "--max-cycles", "30"]])
def test_a_closed_pipe_ends_quietly_with_141(tmp_path: Path, command: list[str]) -> None:
    """`show | head`, `start | head`: the reader went away; no traceback, exit 141 (128 + SIGPIPE)."""
    assert invoke("backtest", "--state-dir", str(tmp_path / "state")).exit_code == 0
    if command[0] == "start":
        command = [*command, "--fresh"]
    process = subprocess.Popen(
        [sys.executable, "-m", "tradeexecutor.cli.main", *command, "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert stderr == ""
