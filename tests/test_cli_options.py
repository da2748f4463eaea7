"""Every option of every command can come from TRADE_EXECUTOR_<OPTION>, and --help says so."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pytest
from clirun import invoke

import tradeexecutor.cli.start as start_cli
from tradeexecutor.app.session import SessionConfig
from tradeexecutor.cli.main import cli


def all_options() -> list[tuple[str, click.Option]]:
    found = []
    for name, command in sorted(cli.commands.items()):
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                found.append((name, param))
    return found


def test_every_option_of_every_command_has_its_environment_variable_shown_in_help() -> None:
    options = all_options()
    assert len(options) > 40
    for command, option in options:
        expected = "TRADE_EXECUTOR_" + option.opts[0].lstrip("-").upper().replace("-", "_")
        assert option.envvar == expected, (command, option.opts)
        assert option.show_envvar, (command, option.opts)
    for command in cli.commands:
        result = invoke(command, "--help")
        assert result.exit_code == 0
    text = " ".join(invoke("start", "--help").stdout.split())
    for variable in ("TRADE_EXECUTOR_PARAM", "TRADE_EXECUTOR_FRESH", "TRADE_EXECUTOR_PROGRESS", "TRADE_EXECUTOR_FEE"):
        assert f"env var: {variable}" in text


class Captured(Exception):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the session with a recorder of its configuration and progress choice."""
    seen: dict[str, Any] = {}

    def fake_run_session(config: SessionConfig, progress: object = None, **_: object) -> None:
        seen["config"], seen["progress"] = config, progress
        raise Captured

    monkeypatch.setattr(start_cli, "run_session", fake_run_session)
    return seen


def configure(tmp_path: Path, *args: str, env: dict[str, str] | None = None, command: str = "start") -> Any:
    with pytest.raises(Captured):
        invoke(command, "--state-dir", str(tmp_path / "state"), *args, env=env)


def test_param_fresh_and_progress_come_from_the_environment(tmp_path: Path, captured: dict[str, Any]) -> None:
    configure(
        tmp_path,
        env={
            "TRADE_EXECUTOR_PARAM": "fast=5 slow=30",
            "TRADE_EXECUTOR_FRESH": "1",
            "TRADE_EXECUTOR_PROGRESS": "true",
            "TRADE_EXECUTOR_FEE": "0.002",
            "TRADE_EXECUTOR_MAX_CYCLES": "7",
            "TRADE_EXECUTOR_ACCEPT_CONFIG_CHANGE": "yes",
            "TRADE_EXECUTOR_MAX_INTENTS_PER_CYCLE": "3",
            "TRADE_EXECUTOR_DECIDE_TIMEOUT": "2m",
        },
    )
    config = captured["config"]
    assert config.parameters == {"fast": "5", "slow": "30"}
    assert config.fresh is True
    assert captured["progress"] is not None
    assert config.fee == Decimal("0.002") and config.max_cycles == 7
    assert config.accept_config_change is True
    assert config.max_intents_per_cycle == 3
    assert config.decide_timeout == 120.0


def test_the_command_line_wins_over_the_environment(tmp_path: Path, captured: dict[str, Any]) -> None:
    configure(tmp_path, "--param", "fast=4", "--no-progress", env={"TRADE_EXECUTOR_PARAM": "fast=5", "TRADE_EXECUTOR_PROGRESS": "1"})
    assert captured["config"].parameters == {"fast": "4"}
    assert captured["progress"] is None


@pytest.mark.parametrize(
    ("command", "args", "timeout"),
    [
        ("start", [], 60.0),
        ("start", ["--mode", "live"], 60.0),
        ("backtest", [], None),
        ("start", ["--mode", "backtest"], None),
        ("backtest", ["--decide-timeout", "5"], 5.0),
        ("start", ["--decide-timeout", "0"], None),
    ],
)
def test_decide_timeout_defaults_to_a_minute_except_in_backtests(
    tmp_path: Path, captured: dict[str, Any], command: str, args: list[str], timeout: float | None
) -> None:
    configure(tmp_path, *args, command=command)
    config = captured["config"]
    assert config.hook_time_limit() == timeout  # unset: the session applies the mode's default
    assert config.max_intents_per_cycle == 100
    assert config.accept_config_change is False


def test_options_map_to_the_session_configuration(tmp_path: Path, captured: dict[str, Any]) -> None:
    configure(
        tmp_path,
        "--id", "run1", "--initial-cash", "500", "--slippage-bps", "2.5", "--fill-at", "close",
        "--cycle-duration", "5m", "--start", "2025-01-02", "--accept-config-change", "--fresh",
    )
    config = captured["config"]
    assert (config.executor_id, config.initial_cash, config.slippage_bps) == ("run1", Decimal(500), Decimal("2.5"))
    assert (config.fill_at, config.cycle_duration, config.fresh) == ("close", 300.0, True)
    assert config.start.isoformat() == "2025-01-02T00:00:00+00:00"
    assert config.accept_config_change is True


@pytest.mark.parametrize(
    ("command", "args", "interval"),
    [
        ("start", [], 60.0),
        ("start", ["--mode", "live"], 60.0),
        ("backtest", [], 0.0),
        ("backtest", ["--snapshot-every", "5m"], 300.0),
        ("start", ["--snapshot-every", "0"], 0.0),
        ("start", ["--snapshot-every", "2.5"], 2.5),
    ],
)
def test_snapshot_every_is_seconds_a_minute_by_default_except_in_backtests(
    tmp_path: Path, captured: dict[str, Any], command: str, args: list[str], interval: float
) -> None:
    configure(tmp_path, *args, command=command)
    assert captured["config"].snapshot_interval() == interval
