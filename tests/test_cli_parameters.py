"""Strategy parameters are typed by their default, bounded when declared, and refused before the run."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from clirun import error_line, invoke

from tradeexecutor.strategy.loader import StrategyLoadError, load_strategy


@pytest.mark.parametrize(
    ("params", "line"),
    [
        (
            ["fast=abc"],
            "error: strategy sma_crossover.py: parameter fast=abc is not allowed: "
            "fast must be a whole number at least 1 (default 10)",
        ),
        (
            ["fast=0"],
            "error: strategy sma_crossover.py: parameter fast=0 is not allowed: "
            "fast must be a whole number at least 1 (default 10)",
        ),
        (
            ["fast=-3"],
            "error: strategy sma_crossover.py: parameter fast=-3 is not allowed: "
            "fast must be a whole number at least 1 (default 10)",
        ),
        (
            ["fast=2.5"],
            "error: strategy sma_crossover.py: parameter fast=2.5 is not allowed: "
            "fast must be a whole number at least 1 (default 10)",
        ),
        (
            ["speed=3"],
            "error: strategy sma_crossover.py has no parameter 'speed'; its parameters are ['allocation', 'fast', 'slow']",
        ),
        (
            ["allocation=2"],
            "error: strategy sma_crossover.py: parameter allocation=2 is not allowed: "
            "allocation must be a number at least 0.01 and at most 1 (default 0.99)",
        ),
        (
            ["allocation=nan"],
            "error: strategy sma_crossover.py: parameter allocation=nan is not allowed: "
            "allocation must be a number at least 0.01 and at most 1 (default 0.99)",
        ),
        (
            ["fast=30"],
            "error: strategy sma_crossover.py: parameters refused (fast=30): fast (30) must be less than slow (20)",
        ),
    ],
)
def test_a_bad_parameter_is_refused_before_the_run_starts(tmp_path: Path, params: list[str], line: str) -> None:
    args = [item for param in params for item in ("--param", param)]
    result = invoke("backtest", "--state-dir", str(tmp_path / "state"), *args)
    assert result.exit_code == 2
    assert error_line(result) == line
    assert not (tmp_path / "state" / "default.events.jsonl").exists()


def test_buy_sell_cycle_declares_its_bounds_and_the_margin_order(tmp_path: Path) -> None:
    result = invoke("backtest", "--state-dir", str(tmp_path), "--strategy", "buy_sell_cycle", "--param", "window=1")
    assert error_line(result) == (
        "error: strategy buy_sell_cycle.py: parameter window=1 is not allowed: "
        "window must be a whole number at least 2 and at most 10000 (default 24)"
    )
    result = invoke(
        "backtest", "--state-dir", str(tmp_path), "--strategy", "buy_sell_cycle", "--param", "min_margin=0.1"
    )
    assert error_line(result) == (
        "error: strategy buy_sell_cycle.py: parameters refused (min_margin=0.1): "
        "min_margin (0.1) must not be above max_margin (0.03)"
    )


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "typed.py"
    path.write_text("from decimal import Decimal\nfrom tradeexecutor.strategy.parameters import Param\n" + body
                    + "\ndef decide(cycle):\n    return []\n")
    return path


def test_values_take_the_type_of_the_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "PARAMETERS = {'n': 3, 'd': Decimal('0.5'), 'f': 1.5, 'b': False, 's': 'x', 'mode': Param('a', choices=('a', 'b'))}",
    )
    strategy = load_strategy(str(path), {"n": "7", "d": "0.25", "f": "2", "b": "yes", "s": "12", "mode": "b"})
    values = dict(strategy.parameters)
    assert values == {"n": 7, "d": Decimal("0.25"), "f": 2.0, "b": True, "s": "12", "mode": "b"}
    assert [type(values[k]) for k in ("n", "d", "f", "b", "s")] == [int, Decimal, float, bool, str]
    assert load_strategy(str(path)).parameters == {"n": 3, "d": Decimal("0.5"), "f": 1.5, "b": False, "s": "x", "mode": "a"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"b": "maybe"}, "strategy typed.py: parameter b=maybe is not allowed: b must be true or false (default False)"),
        ({"f": "inf"}, "strategy typed.py: parameter f=inf is not allowed: f must be a number (default 1.5)"),
        ({"mode": "c"}, "strategy typed.py: parameter mode=c is not allowed: mode must be one of a, b (default a)"),
    ],
)
def test_wrong_types_and_choices_are_named(tmp_path: Path, override: dict[str, str], message: str) -> None:
    path = write(tmp_path, "PARAMETERS = {'b': False, 'f': 1.5, 'mode': Param('a', choices=('a', 'b'))}")
    with pytest.raises(StrategyLoadError) as caught:
        load_strategy(str(path), override)
    assert str(caught.value) == message


def test_a_default_outside_its_own_bounds_is_the_strategy_authors_error(tmp_path: Path) -> None:
    path = write(tmp_path, "PARAMETERS = {'n': Param(0, min=1)}")
    with pytest.raises(StrategyLoadError) as caught:
        load_strategy(str(path))
    assert str(caught.value) == (
        "strategy typed.py: parameter n=0 is not allowed: n must be a whole number at least 1 (default 0)"
    )


def test_good_parameters_run(tmp_path: Path) -> None:
    result = invoke(
        "backtest", "--state-dir", str(tmp_path), "--max-cycles", "50", "--param", "fast=2", "--param", "slow=4"
    )
    assert result.exit_code == 0, result.stderr
