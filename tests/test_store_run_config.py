"""A resume runs what the state was started with: the run configuration is recorded as an event,
and a different strategy, parameter, fee, cash, pair or data is refused before anything is
appended, unless the operator accepts it (and that is recorded too)."""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tradeexecutor.app.session import SessionConfig, run_session
from tradeexecutor.cli.main import main
from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH
from tradeexecutor.state.events import RunConfigured
from tradeexecutor.state.values import utc
from tradeexecutor.store.eventlog import EventLog, encode_lines
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.state_store import load_state
from tradeexecutor.strategy.loader import load_strategy
from tradeexecutor.strategy.runner import RunSetupError

MESSAGE = (
    "this state was started with a different configuration: {}; rerun with the original options, "
    "use --fresh or another --id, or pass --accept-config-change to record the change"
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """The first 300 hourly candles of the sample data, as a file of its own."""
    lines = SAMPLE_DATA_PATH.read_text().splitlines(keepends=True)
    path = tmp_path / "btc.csv"
    path.write_text("".join(lines[:301]))
    return path


def _config(tmp_path: Path, data: Path, **changes: Any) -> SessionConfig:
    config = SessionConfig(state_dir=tmp_path / "state", data=data, max_cycles=50, executor_id="t")
    return dataclasses.replace(config, **changes)


def _types(paths: StatePaths) -> list[str]:
    return [type(r.event).__name__ for r in EventLog.of(paths).records()]


def _configured(paths: StatePaths) -> list[RunConfigured]:
    return [r.event for r in EventLog.of(paths).records() if isinstance(r.event, RunConfigured)]


def test_a_new_state_records_its_configuration_after_state_created(tmp_path: Path, data: Path) -> None:
    result = run_session(_config(tmp_path, data, parameters={"fast": "8"}))
    types = _types(result.paths)
    assert types[:7] == [
        "StateCreated", "AssetRegistered", "AssetRegistered", "PairRegistered", "DepositMade", "RunConfigured",
        "ExecutorStarted",
    ]  # fmt: skip
    (event,) = _configured(result.paths)
    strategy = load_strategy("sma_crossover", {"fast": "8"})
    assert event.strategy == str(strategy.path)
    assert event.strategy_sha256 == strategy.source_sha256
    assert event.parameters == {name: str(value) for name, value in strategy.parameters.items()}
    assert event.parameters["fast"] == "8"
    assert (event.fee, event.slippage_bps, event.fill_at) == (Decimal("0.001"), Decimal(0), "next_open")
    assert (event.initial_cash, event.pair, event.mode) == (Decimal("10000"), "BTC/USDT", "paper")
    assert event.data == str(data.resolve())
    assert event.data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert (event.data_first_at, event.data_last_at) == (utc(2025, 1, 1), utc(2025, 1, 13, 11))
    assert event.accepted_changes == ()
    state = load_state(result.paths)
    assert state.run_configuration is not None and state.run_configuration.data_sha256 == event.data_sha256
    snapshot = orjson.loads(result.paths.snapshot.read_bytes())
    assert snapshot["run_configuration"]["parameters"]["fast"] == "8"


def test_resuming_with_the_same_configuration_records_nothing_new(tmp_path: Path, data: Path) -> None:
    run_session(_config(tmp_path, data))
    result = run_session(_config(tmp_path, data, max_cycles=20, cycle_duration=0.0))
    assert len(_configured(result.paths)) == 1
    assert _types(result.paths).count("ExecutorStarted") == 2


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"fee": Decimal("0.002")}, "fee 0.001 -> 0.002"),
    ({"slippage_bps": Decimal("5")}, "slippage_bps 0 -> 5"),
    ({"fill_at": "close"}, "fill_at next_open -> close"),
    ({"initial_cash": Decimal("5000")}, "initial cash 10000 -> 5000"),
    ({"pair": "ETH/USDT"}, "pair BTC/USDT -> ETH/USDT"),
    ({"parameters": {"fast": "12"}}, "parameter fast 10 -> 12"),
    ({"fee": Decimal("0.002"), "pair": "ETH/USDT"}, "pair BTC/USDT -> ETH/USDT, fee 0.001 -> 0.002"),
    ({"start": utc(2025, 1, 2)}, "data start 2025-01-01 00:00:00 -> 2025-01-02 00:00:00"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "listed"), REFUSED, ids=[listed for _, listed in REFUSED])
def test_a_changed_identity_is_refused_before_anything_is_appended(
    tmp_path: Path, data: Path, change: dict[str, Any], listed: str
) -> None:
    first = run_session(_config(tmp_path, data))
    log_before = first.paths.log.read_bytes()
    with pytest.raises(RunSetupError) as caught:
        run_session(_config(tmp_path, data, **change))
    assert str(caught.value) == MESSAGE.format(listed)
    assert first.paths.log.read_bytes() == log_before


def test_another_strategy_or_data_file_is_refused(tmp_path: Path, data: Path) -> None:
    first = run_session(_config(tmp_path, data))
    other_data = tmp_path / "other.csv"
    other_data.write_bytes(data.read_bytes())
    old = str(load_strategy("sma_crossover", {}).path)
    new = str(load_strategy("buy_sell_cycle", {}).path)
    with pytest.raises(RunSetupError) as caught:
        run_session(_config(tmp_path, data, strategy="buy_sell_cycle"))
    assert str(caught.value).startswith(f"this state was started with a different configuration: strategy {old} -> {new}, ")
    with pytest.raises(RunSetupError) as caught:
        run_session(_config(tmp_path, other_data))
    assert str(caught.value) == MESSAGE.format(f"data {data.resolve()} -> {other_data.resolve()}")
    # An edited strategy file (same path, other source) is a change too.
    source = tmp_path / "mine.py"
    source.write_text(Path(old).read_text())
    fresh = _config(tmp_path, data, strategy=str(source), executor_id="mine")
    run_session(fresh)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    source.write_text(Path(old).read_text() + "\n# tuned\n")
    after = hashlib.sha256(source.read_bytes()).hexdigest()
    with pytest.raises(RunSetupError) as caught:
        run_session(fresh)
    assert str(caught.value) == MESSAGE.format(f"strategy source mine.py changed (sha256 {before[:12]} -> {after[:12]})")
    assert len(_configured(first.paths)) == 1


def test_an_accepted_change_is_recorded_and_becomes_the_configuration(tmp_path: Path, data: Path) -> None:
    run_session(_config(tmp_path, data))
    result = run_session(_config(tmp_path, data, fee=Decimal("0.002"), accept_config_change=True))
    first, second = _configured(result.paths)
    assert second.accepted_changes == ("fee 0.001 -> 0.002",)
    assert second.fee == Decimal("0.002")
    types = _types(result.paths)
    configured_at = [i for i, name in enumerate(types) if name == "RunConfigured"]
    started_at = [i for i, name in enumerate(types) if name == "ExecutorStarted"]
    assert configured_at[1] == started_at[1] - 1  # recorded just before the resumed run starts
    state = load_state(result.paths)
    assert state.run_configuration is not None and state.run_configuration.fee == Decimal("0.002")
    run_session(_config(tmp_path, data, fee=Decimal("0.002"), max_cycles=5))  # the new one is the reference now
    assert len(_configured(result.paths)) == 2
    with pytest.raises(RunSetupError, match=r"fee 0\.002 -> 0\.001"):
        run_session(_config(tmp_path, data, max_cycles=5))


def test_run_time_options_a_later_end_and_a_grown_data_file_are_free(tmp_path: Path, data: Path) -> None:
    run_session(_config(tmp_path, data, end=utc(2025, 1, 5)))
    run_session(_config(tmp_path, data, max_cycles=3, cycle_duration=0.0))  # later --end (none)
    lines = SAMPLE_DATA_PATH.read_text().splitlines(keepends=True)
    data.write_text("".join(lines[:401]))  # more candles appended to the same file
    result = run_session(_config(tmp_path, data, max_cycles=3))
    assert len(_configured(result.paths)) == 1


def test_a_state_from_before_run_configurations_resumes_and_records_one(tmp_path: Path, data: Path) -> None:
    first = run_session(_config(tmp_path, data))
    records = [r.event for r in EventLog.of(first.paths).records() if not isinstance(r.event, RunConfigured)]
    first.paths.log.write_bytes(encode_lines(records))
    first.paths.snapshot.unlink()
    assert load_state(first.paths).run_configuration is None
    result = run_session(_config(tmp_path, data, fee=Decimal("0.002"), max_cycles=5))
    (event,) = _configured(result.paths)
    assert event.accepted_changes == () and event.fee == Decimal("0.002")
    assert _types(result.paths).index("RunConfigured") == len(records)  # first event of the resumed run


def test_the_cli_refuses_a_changed_fee_with_one_line_and_exit_2(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["start", "--state-dir", str(tmp_path / "state"), "--data", str(data), "--max-cycles", "20"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--fee", "0.002", "--pair", "ETH/USDT"]) == 2
    assert capsys.readouterr().err == "error: " + MESSAGE.format("pair BTC/USDT -> ETH/USDT, fee 0.001 -> 0.002") + "\n"



def test_live_mode_records_the_exchange_instead_of_a_file_digest(tmp_path: Path) -> None:
    from test_live_trading import STRATEGY, FakeExchange, live, wave_candles

    strategy = tmp_path / "live_strategy.py"
    strategy.write_text(STRATEGY)
    fake = FakeExchange(wave_candles(400), balances={"USDT": "10000"})
    fake.start()
    try:
        state_dir = tmp_path / "state"
        first = live(fake, strategy, state_dir, cycles=1, mode="idle")
        (event,) = _configured(first.paths)
        assert (event.mode, event.data, event.exchange_url) == ("live", "exchange binance 1m", fake.url)
        assert (event.data_sha256, event.data_first_at, event.data_last_at) == (None, None, None)
        assert event.initial_cash == Decimal("10000")  # what the account held, not --initial-cash
        live(fake, strategy, state_dir, cycles=1, mode="idle")  # same configuration: resumes
        with pytest.raises(RunSetupError) as caught:
            live(fake, strategy, state_dir, cycles=1, mode="buy_once")
        assert str(caught.value) == MESSAGE.format("parameter mode idle -> buy_once")
        assert len(_configured(first.paths)) == 1
    finally:
        fake.stop()
