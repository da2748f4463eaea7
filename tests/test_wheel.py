"""The wheel carries everything a user needs: built, installed into a fresh venv (not editable), and
run from an empty folder with the bundled strategy and sample data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRADE_EXECUTOR_")}
    env.pop("PYTHONPATH", None)  # the installed wheel, not this checkout
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.timeout(240)
def test_a_wheel_installed_in_a_fresh_venv_runs_start_and_copies_a_strategy(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so the build leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "tradeexecutor", source / "tradeexecutor", ignore=shutil.ignore_patterns("__pycache__"))
    built = run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(source)], tmp_path, 120)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("tradeexecutor-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    installed = run([str(env_dir / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path, 180)
    assert installed.returncode == 0, installed.stderr[-2000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    script = str(env_dir / "bin" / "trade-executor")
    started = run([script, "start", "--max-cycles", "50"], empty, 120)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("paper run of 2000 candles: 50 cycles in ")
    assert "Summary" in started.stdout and "Total return" in started.stdout
    assert "open positions 0, closed 0, frozen 0; equity 10,000.00 USDT" in started.stdout
    assert (empty / "state" / "default.events.jsonl").exists()

    copied = run([script, "strategies", "--copy", "sma_crossover"], empty, 60)
    assert copied.returncode == 0, copied.stderr
    assert (empty / "sma_crossover.py").read_bytes() == (ROOT / "tradeexecutor/strategies/sma_crossover.py").read_bytes()
    again = run([script, "backtest", "--strategy", "sma_crossover.py", "--max-cycles", "50", "--id", "mine"], empty, 120)
    assert again.returncode == 0, again.stderr
