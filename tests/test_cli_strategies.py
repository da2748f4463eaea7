"""`trade-executor strategies`: the bundled strategies listed, and copied out without overwriting."""

from __future__ import annotations

from pathlib import Path

from clirun import error_line, invoke

from tradeexecutor.strategy.loader import EXAMPLES_DIR


def test_strategies_lists_each_bundled_strategy_with_its_parameters() -> None:
    result = invoke("strategies")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert (
        "sma_crossover: SMA crossover, long only: buy when the fast average crosses above the slow one, "
        "sell when it crosses back below."
    ) in lines
    assert "  parameters: fast=10 (>= 1), slow=20 (>= 2), allocation=0.99 (>= 0.01, <= 1)" in lines
    assert any(line.startswith("buy_sell_cycle: Buy/sell cycle on one pair") for line in lines)
    assert lines[-1] == "copy one out with: trade-executor strategies --copy NAME [--to DIR]"


def test_copy_writes_the_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    result = invoke("strategies", "--copy", "sma_crossover", "--to", str(tmp_path))
    assert result.exit_code == 0
    target = tmp_path / "sma_crossover.py"
    assert result.stdout == (
        f"copied sma_crossover.py to {target}; run it with: trade-executor start --strategy {target}\n"
    )
    assert target.read_bytes() == (EXAMPLES_DIR / "sma_crossover.py").read_bytes()
    target.write_text("# mine\n")
    again = invoke("strategies", "--copy", "sma_crossover", "--to", str(tmp_path))
    assert again.exit_code == 2
    assert error_line(again) == (
        f"error: {target} already exists: not overwriting it (remove it, or give another --to DIR)"
    )
    assert target.read_text() == "# mine\n"


def test_copy_of_an_unknown_strategy_names_the_known_ones(tmp_path: Path) -> None:
    result = invoke("strategies", "--copy", "nope", "--to", str(tmp_path))
    assert result.exit_code == 2
    assert error_line(result) == (
        "error: no bundled strategy named 'nope'; the bundled strategies are ['buy_sell_cycle', 'sma_crossover']"
    )
    missing = invoke("strategies", "--copy", "sma_crossover", "--to", str(tmp_path / "no"))
    assert error_line(missing) == f"error: --to {tmp_path / 'no'}: the folder does not exist"
