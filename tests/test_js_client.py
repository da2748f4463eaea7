"""A JavaScript client reads the snapshot and gets Python's total equity to the last digit.

`tests/js/check_snapshot.mjs` checks the JSON conventions (safe integers only, decimal strings,
ISO timestamps with Z) and recomputes total equity with BigInt decimals; these tests run it with
Node on snapshots written by the real `StateStore`. Node is required: CI has it, and a missing
`node` fails these tests rather than skipping them, so the JS contract cannot go unchecked.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_state_schema import (
    PERP,
    SPOT,
    RichScenario,
    read_json,
    rich_events,
    schema_errors,
    walk,
    write_snapshot,
)

from tradeexecutor.state.events import (
    DepositMade,
    Event,
    FillReceived,
    OrderSubmitted,
    PairRegistered,
    ValuationRecorded,
    WithdrawalMade,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import Side
from tradeexecutor.store.snapshot import parse_state

SCRIPT = Path(__file__).resolve().parent / "js" / "check_snapshot.mjs"
D = Decimal
# The shapes of the values in decimal and timestamp fields (the schema's patterns, loosely).
DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?(E[+-](0|[1-9][0-9]*))?")
TIMESTAMP_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}([0-9]{3})?Z")


def run_node(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is required for the JavaScript client checks but `node` is not on PATH; "
            "install Node 18 or later (CI has it). These tests never skip.",
            pytrace=False,
        )
    return subprocess.run([node, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def check_with_node(snapshot: Path) -> dict[str, Any]:
    result = run_node(str(snapshot))
    assert result.returncode == 0, f"check_snapshot.mjs refused {snapshot}:\n{result.stderr}"
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def position_and_trade_counts(state: State) -> tuple[int, int]:
    portfolio = state.portfolio
    maps = (portfolio.open_positions, portfolio.closed_positions, portfolio.frozen_positions)
    return sum(len(m) for m in maps), sum(len(p.trades) for m in maps for p in m.values())


def assert_node_agrees(snapshot: Path, state: State) -> None:
    """Node's equity equals `State.total_equity()` exactly, as a number and as Python writes it."""
    report = check_with_node(snapshot)
    python_equity = state.total_equity()
    assert Decimal(report["total_equity"]) == python_equity
    assert report["total_equity"] == str(python_equity)
    assert (report["positions"], report["trades"]) == position_and_trade_counts(state)


# --- real snapshots -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, State]:
    return write_snapshot(tmp_path_factory.mktemp("rich"), rich_events())


def test_node_reads_the_rich_snapshot_and_matches_python_equity(rich: tuple[Path, State]) -> None:
    path, state = rich
    assert schema_errors(read_json(path)) == []
    assert_node_agrees(path, state)
    # The equity needs more than 28 digits exactly; both sides round it the same way.
    assert len(str(state.total_equity()).replace(".", "")) == 28


def test_node_equity_matches_the_state_loaded_back_from_the_file(rich: tuple[Path, State]) -> None:
    path, _ = rich
    assert_node_agrees(path, parse_state(path.read_bytes()))


def test_node_reads_decimals_in_exponent_form_and_negative_zero(
    rich: tuple[Path, State], tmp_path: Path
) -> None:
    """Python's str(Decimal) may write '9.7983391500E+5', '2.5E-1' or '-0'; clients must read them."""
    path, _ = rich
    snapshot = read_json(path)
    portfolio = snapshot["portfolio"]
    portfolio["reserves"]["USDT"] = "9.7983391500E+5"
    spot, perp = portfolio["open_positions"]["2"], portfolio["open_positions"]["3"]
    spot["qty"], spot["mark_price"] = "2.5E-1", "3.0650E+4"
    perp["mark_price"], perp["realised_pnl"] = "3.08E+4", "-0"
    edited = tmp_path / "edited.json"
    edited.write_bytes(orjson.dumps(snapshot))
    assert schema_errors(snapshot) == []
    assert_node_agrees(edited, parse_state(edited.read_bytes()))


def test_position_without_a_mark_counts_at_entry_price_or_zero_pnl(tmp_path: Path) -> None:
    """Spot without a mark is worth qty x avg_price; a perpetual without a mark adds nothing."""
    s = RichScenario()
    events = s.setup(D("100000"))
    events.append(PairRegistered(s.now, PERP, "BTC/USDT:USDT", "BTC", "USDT", "binance", PairKind.perpetual))
    events += s.trade(Side.buy, D("0.3"), D("30000.5"))
    short = s.plan(Side.sell, D("1"), pair_id=PERP)
    events += [
        short,
        OrderSubmitted(short.at, short.trade_id, None),
        FillReceived(short.at, short.trade_id, D("1"), D("31000"), D("0"), "USDT"),
    ]
    path, state = write_snapshot(tmp_path, events)
    report = check_with_node(path)
    cash = D("100000") - D("0.3") * D("30000.5") - D("0.1")
    assert D(report["total_equity"]) == cash + D("0.3") * D("30000.5") == state.total_equity()


# --- broken snapshots ---------------------------------------------------------------------------


def _break(path: Path, tmp_path: Path, old: str, new: str) -> Path:
    """Replace one exact piece of the snapshot's text (numbers must be edited as text: a float
    like 2.0 would otherwise be indistinguishable from 2 once parsed)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    broken = tmp_path / "broken.json"
    broken.write_text(text.replace(old, new))
    return broken


BROKEN = {
    "float with a zero fraction": ('"USDT","cycle":2,', '"USDT","cycle":2.0,', "$.cycle", "not an integer"),
    "float in a fill row": (
        '[["0.5","30700","1.535"',
        '[[0.5,"30700","1.535"',
        '$.portfolio.open_positions["9"].trades["11"].fills[0][0]',
        "not an integer",
    ),
    "float in exponent notation": (
        '"next_trade_id":12',
        '"next_trade_id":1.2e1',
        "$.portfolio.next_trade_id",
        "not an integer",
    ),
    "unsafe integer": (
        '"next_trade_id":12',
        '"next_trade_id":9007199254740993',
        "$.portfolio.next_trade_id",
        "not a safe integer",
    ),
    "integer 2^53": (
        '"USDT","cycle":2,',
        '"USDT","cycle":9007199254740992,',
        "$.cycle",
        "not a safe integer",
    ),
    "timestamp without milliseconds": (
        '"planned_at":"2026-01-01T00:00:25.000Z"',
        '"planned_at":"2026-01-01T00:00:25Z"',
        '$.portfolio.open_positions["9"].trades["11"].planned_at',
        "ISO 8601",
    ),
    "timestamp with an offset": (
        '"started_at":"2026-01-01T00:00:21.000Z"',
        '"started_at":"2026-01-01T00:00:21.000+00:00"',
        "$.uptime.runs[1].started_at",
        "ISO 8601",
    ),
    "impossible date": (
        '"expires_at":"2026-01-01T01:00:22.000Z"',
        '"expires_at":"2026-02-30T01:00:22.000Z"',
        '$.portfolio.open_positions["2"].trades["9"].expires_at',
        "ISO 8601",
    ),
    "decimal as a number": ('"USDT":"979833.915"', '"USDT":979833', "$.portfolio.reserves.USDT", "decimal"),
    "decimal in lower-case exponent form": (
        '"amount":"1E+1"',
        '"amount":"1e+1"',
        "$.portfolio.balance_updates[1].amount",
        "decimal",
    ),
    "NaN decimal": (
        '"mark_price":"30800"',
        '"mark_price":"NaN"',
        '$.portfolio.open_positions["3"].mark_price',
        "decimal",
    ),
    "bare NaN": ('"USDT","cycle":2,', '"USDT","cycle":NaN,', "$.cycle", "invalid JSON"),
    "registry id that is not its key": ('"1":{"id":1,', '"1":{"id":7,', '$.pairs["1"].id', "differs"),
}


@pytest.mark.parametrize("what", BROKEN)
def test_node_refuses_a_broken_snapshot_naming_the_path(
    rich: tuple[Path, State], tmp_path: Path, what: str
) -> None:
    old, new, json_path, words = BROKEN[what]
    result = run_node(str(_break(rich[0], tmp_path, old, new)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert f"{json_path}:" in result.stderr
    assert words in result.stderr


def js_path(path: tuple[Any, ...]) -> str:
    """A JSON path written the way check_snapshot.mjs writes it."""
    text = "$"
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _shape(path: tuple[Any, ...]) -> tuple[str, ...]:
    """A path with ids, indices, asset keys and the position map's name generalised away."""
    shape = []
    for part in path:
        if isinstance(part, int) or part.isdigit() or part in ("USDT", "BNB"):
            part = "*"
        elif part.endswith("_positions"):
            part = "positions"
        shape.append(part)
    return tuple(shape)


def test_node_and_schema_check_every_decimal_and_timestamp_field(
    rich: tuple[Path, State], tmp_path: Path
) -> None:
    """Corrupting one instance of each decimal or timestamp field of the rich snapshot makes both
    the Node checker (naming the path) and the schema refuse it: the script's field table and the
    schema cover the whole layout."""
    snapshot = read_json(rich[0])
    fields: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for path, value in walk(snapshot):
        if isinstance(value, str) and (DECIMAL_TEXT.fullmatch(value) or TIMESTAMP_TEXT.fullmatch(value)):
            fields.setdefault(_shape(path), path)
    assert len(fields) >= 25
    missed = []
    targets = []
    for index, path in enumerate(fields.values()):
        broken = copy.deepcopy(snapshot)
        parent = functools.reduce(lambda node, key: node[key], path[:-1], broken)
        parent[path[-1]] += " "
        if not schema_errors(broken):
            missed.append(f"schema accepted a corrupt {js_path(path)}")
        target = tmp_path / f"corrupt{index}.json"
        target.write_bytes(orjson.dumps(broken))
        targets.append((path, target))
    with ThreadPoolExecutor(max_workers=8) as pool:  # one Node process each; run them side by side
        results = pool.map(lambda item: (item[0], run_node(str(item[1]))), targets)
        for path, result in results:
            if result.returncode != 1 or f"{js_path(path)}:" not in result.stderr:
                missed.append(f"node: {js_path(path)}: exit {result.returncode} {result.stderr.strip()}")
    assert missed == []


def test_node_exits_2_on_usage_errors(tmp_path: Path) -> None:
    assert run_node().returncode == 2
    assert run_node(str(tmp_path / "missing.json")).returncode == 2


# --- property: random accounts -------------------------------------------------------------------

prices = st.decimals(
    min_value=D("100"), max_value=D("90000"), places=2, allow_nan=False, allow_infinity=False
)
quantities = st.decimals(
    min_value=D("0.001"), max_value=D("2"), places=3, allow_nan=False, allow_infinity=False
)
amounts = st.decimals(
    min_value=D("1"), max_value=D("100000"), places=6, allow_nan=False, allow_infinity=False
)
_open = st.tuples(st.just("open"), st.tuples(quantities, prices))
_value = st.tuples(st.just("value"), prices)
# Opening and valuing are listed twice so that most accounts end with marked open positions.
actions = st.lists(
    st.one_of(
        st.tuples(st.just("deposit"), amounts),
        st.tuples(st.just("withdraw"), amounts),
        st.tuples(st.just("round_trip"), st.tuples(quantities, prices, prices)),
        _open,
        _open,
        st.tuples(st.just("add"), st.tuples(quantities, prices)),
        st.tuples(st.just("close"), prices),
        _value,
        _value,
        st.tuples(st.just("cycle"), prices),
    ),
    min_size=3,
    max_size=25,
)


def account_events(steps: list[tuple[str, Any]]) -> list[Event]:
    """Turn drawn steps into a valid event sequence; a step the account cannot afford is skipped."""
    s = RichScenario()
    cash = D("1000000")
    events = s.setup(cash)
    open_positions: dict[int, Decimal] = {}  # position id -> quantity
    for action, arg in steps:
        if action == "deposit":
            events.append(DepositMade(s.tick(), "USDT", arg, "top-up"))
            cash += arg
        elif action == "withdraw" and arg <= cash:
            events.append(WithdrawalMade(s.tick(), "USDT", arg, "payout"))
            cash -= arg
        elif action == "round_trip" and arg[0] * arg[1] + D("0.1") <= cash:
            quantity, buy, sell = arg
            events += s.round_trip(quantity, buy, sell)
            cash += quantity * (sell - buy) - D("0.2")
        elif action in ("open", "add") and arg[0] * arg[1] + D("0.1") <= cash:
            quantity, price = arg
            position_id = None if action == "open" or not open_positions else min(open_positions)
            events += s.trade(Side.buy, quantity, price, position_id)
            position_id = s.next_position_id - 1 if position_id is None else position_id
            open_positions[position_id] = open_positions.get(position_id, D(0)) + quantity
            cash -= quantity * price + D("0.1")
        elif action == "close" and open_positions:
            position_id, quantity = open_positions.popitem()
            events += s.trade(Side.sell, quantity, arg, position_id)
            cash += quantity * arg - D("0.1")
        elif action == "value":
            events.append(ValuationRecorded(s.tick(), {SPOT: arg}))
        elif action == "cycle":
            events += s.cycle_end(arg)
    return events


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=actions, final_mark=st.one_of(st.none(), prices))
def test_random_accounts_validate_and_node_matches_python(
    tmp_path_factory: pytest.TempPathFactory, steps: list, final_mark: Decimal | None
) -> None:
    if final_mark is not None:
        steps = [*steps, ("value", final_mark)]
    path, state = write_snapshot(tmp_path_factory.mktemp("account"), account_events(steps), batch=7)
    assert schema_errors(read_json(path)) == []
    assert_node_agrees(path, state)


# --- the equity file ------------------------------------------------------------------------------

EQUITY_SCRIPT = SCRIPT.parent / "read_equity.mjs"


def run_node_equity(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required for the JavaScript client checks but `node` is not on PATH", pytrace=False)
    return subprocess.run([node, str(EQUITY_SCRIPT), str(path)], capture_output=True, text=True, timeout=60)


def _long_run(folder: Path) -> tuple[Path, dict[str, Any]]:
    """A store after 300 live-like cycles (a valuation each, a trade every 20): its equity file
    and its snapshot's `equity` summary."""
    from datetime import timedelta

    from tradeexecutor.testing.scenario import Scenario

    scenario = Scenario(executor_id="test", step=timedelta(minutes=1))
    snapshot, _ = write_snapshot(folder, [*scenario.setup(D("10000")), *scenario.cycles(300)])
    return snapshot.with_name("test.equity.jsonl"), read_json(snapshot)["equity"]


def test_node_reads_the_equity_file_and_recomputes_the_snapshots_summary(rich: tuple[Path, State], tmp_path: Path) -> None:
    for equity_file, summary in [
        (rich[0].with_name("test.equity.jsonl"), read_json(rich[0])["equity"]),
        _long_run(tmp_path),
    ]:
        result = run_node_equity(equity_file)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report == {
            "points": summary["points"],
            "first_at": summary["first_at"],
            "last_at": summary["last"]["at"],
            "last_equity": summary["last"]["equity"],
            "peak_equity": summary["peak_equity"],
        }
    assert report["points"] == 300


def test_node_skips_a_torn_last_line_and_refuses_a_broken_one_naming_it(tmp_path: Path) -> None:
    equity_file, summary = _long_run(tmp_path)
    whole = equity_file.read_bytes()
    equity_file.write_bytes(whole + b'{"n":301,"at":"2026-')
    result = run_node_equity(equity_file)
    assert result.returncode == 0 and json.loads(result.stdout)["points"] == summary["points"]
    lines = whole.splitlines(keepends=True)
    broken = orjson.loads(lines[41])
    broken["equity"] = float(broken["equity"])  # money as a float: what a client must never meet
    equity_file.write_bytes(b"".join([*lines[:41], orjson.dumps(broken) + b"\n", *lines[42:]]))
    result = run_node_equity(equity_file)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"line 42: equity {json.dumps(broken['equity'])} is not a decimal string")
