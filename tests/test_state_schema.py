"""docs/state.schema.json describes the snapshot the store really writes, and refuses anything else.

States are built through the real reducer and `StateStore` (the file JS clients read is the one
`close()` writes), so a change to the serialisation that the schema does not know fails here.
The helpers at the top are shared with tests/test_js_client.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventgen import event_sequences
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator, FormatChecker

from tradeexecutor.state.events import (
    AssetRegistered,
    BalanceCorrected,
    DepositMade,
    Event,
    ExecutorStarted,
    FeeCharged,
    FillReceived,
    FundingPaid,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderRejected,
    OrderSubmitted,
    PairRegistered,
    PositionFrozen,
    RepairApplied,
    StrategyStateChanged,
    TradePlanned,
    ValuationRecorded,
    WithdrawalMade,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.reducer import fold
from tradeexecutor.state.state import SCHEMA_VERSION, State
from tradeexecutor.state.trade import OrderType, Side
from tradeexecutor.store.snapshot import dump_state
from tradeexecutor.store.state_store import StateStore
from tradeexecutor.testing.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "docs" / "state.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
D = Decimal
SPOT, PERP = 1, 2

# --- shared helpers ---------------------------------------------------------------------------


def _format_checker() -> FormatChecker:
    """jsonschema checks `date-time` only with an optional package; check it with the stdlib."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def is_datetime(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return datetime.fromisoformat(value).tzinfo is not None

    return checker


VALIDATOR = Draft202012Validator(SCHEMA, format_checker=_format_checker())


def schema_errors(snapshot: Any) -> list[str]:
    """Every schema violation as `path: message`; empty when the snapshot is valid."""
    return [
        "/".join(str(part) for part in error.absolute_path) + ": " + error.message
        for error in VALIDATOR.iter_errors(snapshot)
    ]


def write_snapshot(folder: Path, events: Sequence[Event], batch: int = 25) -> tuple[Path, State]:
    """Record `events` in batches through a `StateStore` and close it, which writes `test.json`."""
    store = StateStore(folder, "test").open()
    try:
        for start in range(0, len(events), batch):
            store.record(events[start : start + batch])
    finally:
        store.close()
    return store.paths.snapshot, store.state


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


class RichScenario(Scenario):
    """`Scenario` plus what it lacks: limit orders, a perpetual pair, trades that do not fill."""

    def plan(
        self,
        side: Side,
        quantity: Decimal,
        *,
        pair_id: int = SPOT,
        limit: Decimal | None = None,
        position_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> TradePlanned:
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        if position_id is None:
            position_id = self.next_position_id
            self.next_position_id += 1
        order_type = OrderType.market if limit is None else OrderType.limit
        return TradePlanned(
            self.tick(),
            trade_id,
            position_id,
            pair_id,
            side,
            order_type,
            quantity,
            limit,
            f"te-{trade_id}",
            expires_at,
        )


def rich_events() -> list[Event]:
    """One account that exercises every part of the snapshot layout.

    Closed, open and frozen positions (with and without a mark price), a perpetual short with
    funding and a perpetual long without a mark, a limit order with `expires_at` partially filled
    twice (fees in a third asset and in the base asset, at a microsecond time) then expired,
    cancelled / rejected / failed-then-repaired trades with reasons, a pending limit order,
    withdrawals, corrections, a position fee, two runs, strategy state changes, and decimals
    written in exponent form.
    """
    s = RichScenario()
    events = s.setup()
    at = s.now
    events += [
        AssetRegistered(at, "BNB", 8),
        PairRegistered(at, PERP, "BTC/USDT:USDT", "BTC", "USDT", "binance", PairKind.perpetual),
        DepositMade(at, "BNB", D("1E+1"), "fee float"),
        StrategyStateChanged(at, "cycle", None, "READY_TO_BUY"),
    ]
    events += s.round_trip(D("0.5"), D("30000"), D("31000"))
    events += s.trade(Side.buy, D("0.25"), D("30500"))  # open spot, marked below
    spot_open = s.next_position_id - 1

    short = s.plan(Side.sell, D("2"), pair_id=PERP)
    events += [
        short,
        OrderSubmitted(short.at, short.trade_id, "p-1"),
        FillReceived(short.at, short.trade_id, D("2"), D("31000"), D("6.2"), "USDT", "pf-1"),
        FundingPaid(s.tick(), short.position_id, D("1.5"), "8h funding"),
        FundingPaid(s.tick(), short.position_id, D("-0.7"), "8h funding"),
    ]
    events += s.trade(Side.buy, D("0.05"), D("30650"))
    to_freeze = s.next_position_id - 1
    events += s.cycle_end(D("30600"))
    events += [ValuationRecorded(s.tick(), {PERP: D("30800")})]
    events += [
        PositionFrozen(s.tick(), to_freeze, "exchange balance does not match"),
        StrategyStateChanged(s.now, "cycle", "READY_TO_BUY", "BUYING"),
    ]

    cancelled = s.plan(Side.buy, D("0.1"), limit=D("29000"), expires_at=s.now + timedelta(minutes=5))
    rejected = s.plan(Side.buy, D("50"))
    failed = s.plan(Side.buy, D("0.01"))
    events += [
        cancelled,
        OrderSubmitted(cancelled.at, cancelled.trade_id, "l-1"),
        OrderCancelled(s.tick(), cancelled.trade_id, "price moved away"),
        rejected,
        OrderRejected(rejected.at, rejected.trade_id, "insufficient balance"),
        failed,
        OrderSubmitted(failed.at, failed.trade_id, None),
        OrderFailed(s.tick(), failed.trade_id, "network timeout"),
        RepairApplied(s.tick(), failed.trade_id, "operator: the order never reached the venue"),
        WithdrawalMade(s.tick(), "USDT", D("2500"), "monthly payout"),
        BalanceCorrected(s.tick(), "USDT", D("-0.35"), "reconciliation"),
        BalanceCorrected(s.tick(), "BNB", D("0.5"), "reconciliation"),
        FeeCharged(s.tick(), "USDT", D("1.2"), spot_open, "custody fee"),
        ExecutorStarted(s.tick(), "0.1.1", "live"),
    ]
    events += s.cycle_end(D("30650"))

    pending = s.plan(
        Side.sell, D("0.25"), limit=D("32000"), position_id=spot_open, expires_at=s.now + timedelta(hours=1)
    )
    partial = s.plan(Side.buy, D("0.4"), limit=D("30000"), expires_at=s.now + timedelta(minutes=5))
    long_perp = s.plan(Side.buy, D("0.5"), pair_id=PERP)
    micro = s.tick() + timedelta(microseconds=250)
    events += [
        pending,
        OrderSubmitted(pending.at, pending.trade_id, "l-2"),
        partial,
        OrderSubmitted(partial.at, partial.trade_id, "l-3"),
        FillReceived(micro, partial.trade_id, D("0.1"), D("29990"), D("5E-7"), "BNB", "lf-1"),
        FillReceived(s.tick(), partial.trade_id, D("0.2"), D("29995.5"), D("0.0002"), "BTC", None),
        OrderExpired(s.tick(), partial.trade_id, "limit order timed out"),
        long_perp,
        OrderSubmitted(long_perp.at, long_perp.trade_id, "p-2"),
        FillReceived(long_perp.at, long_perp.trade_id, D("0.5"), D("30700"), D("1.535"), "USDT", "pf-2"),
        StrategyStateChanged(s.tick(), "cycle", "BUYING", "READY_TO_SELL"),
    ]
    return events


def walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of a JSON document, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index))


# --- the schema itself ---------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _schemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, child in node.items():
            yield from _schemas(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _schemas(child, f"{path}/{index}")


def test_every_object_in_the_schema_is_closed() -> None:
    """Objects either forbid unknown keys or, for maps, constrain every value."""
    open_objects = [
        path
        for path, node in _schemas(SCHEMA)
        if node.get("type") == "object" and "additionalProperties" not in node
    ]
    assert open_objects == []


def test_every_property_is_documented_for_js_developers() -> None:
    """Each property of a closed object, and each column of the fill row, says what it means."""
    undocumented = []
    for path, node in _schemas(SCHEMA):
        if node.get("additionalProperties") is False:
            for name, prop in node.get("properties", {}).items():
                if not (isinstance(prop, dict) and prop.get("description")):
                    undocumented.append(f"{path}/properties/{name}")
        for index, item in enumerate(node.get("prefixItems", [])):
            if not item.get("description"):
                undocumented.append(f"{path}/prefixItems/{index}")
    assert undocumented == []


# --- real snapshots validate -------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich_snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path, _ = write_snapshot(tmp_path_factory.mktemp("rich"), rich_events())
    return read_json(path)


def test_rich_snapshot_written_by_the_store_validates(rich_snapshot: dict[str, Any]) -> None:
    assert schema_errors(rich_snapshot) == []


def test_rich_snapshot_covers_the_whole_layout(rich_snapshot: dict[str, Any]) -> None:
    """Guards the scenario: if it stops producing a feature, the schema tests lose their teeth."""
    portfolio = rich_snapshot["portfolio"]
    positions = [
        p
        for name in ("open_positions", "closed_positions", "frozen_positions")
        for p in portfolio[name].values()
    ]
    trades = [t for p in positions for t in p["trades"].values()]
    statuses = {t["status"] for t in trades}
    assert {"filled", "submitted", "cancelled", "rejected", "repaired", "expired"} <= statuses
    assert portfolio["frozen_positions"] and portfolio["closed_positions"]
    assert any("mark_price" in p for p in portfolio["open_positions"].values())
    assert any("mark_price" not in p for p in portfolio["open_positions"].values())
    assert any(p["direction"] == "short" and "funding" in p for p in positions)
    assert any(t.get("expires_at") and t.get("limit") and len(t["fills"]) == 2 for t in trades)
    assert all(
        t.get("reason") for t in trades if t["status"] in ("cancelled", "rejected", "expired", "repaired")
    )
    kinds = {u["kind"] for u in portfolio["balance_updates"]}
    assert kinds == {"deposit", "withdrawal", "fee", "funding", "correction"}
    assert len(rich_snapshot["uptime"]["runs"]) == 2
    assert rich_snapshot["strategy_states"] == {"cycle": "READY_TO_SELL"}
    texts = [v for _, v in walk(rich_snapshot) if isinstance(v, str)]
    assert any(t.endswith("250Z") and len(t) == len("2026-01-01T00:00:00.000250Z") for t in texts)
    assert "5E-7" in texts and "1E+1" in texts


def test_every_number_in_a_snapshot_is_a_safe_integer(rich_snapshot: dict[str, Any]) -> None:
    numbers = [v for _, v in walk(rich_snapshot) if isinstance(v, int | float) and not isinstance(v, bool)]
    assert numbers and all(type(v) is int and abs(v) < 2**53 for v in numbers)


def test_an_empty_state_validates_but_a_stored_one_needs_its_identity() -> None:
    empty = json.loads(dump_state(State()))
    assert schema_errors(empty) == []
    empty["last_event_seq"] = 1
    errors = schema_errors(empty)
    assert any(e.startswith("executor_id:") for e in errors)
    assert any(e.startswith("created_at:") for e in errors)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_sequences())
def test_every_reachable_state_validates(events: list[Event]) -> None:
    assert schema_errors(json.loads(dump_state(fold(events)))) == []


# --- the schema refuses what the store never writes ------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _open_position(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in snapshot["portfolio"]["open_positions"].values() if p["trades"])


def _first_trade(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(iter(_open_position(snapshot)["trades"].values()))


def _filled_trade(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(t for t in _open_position(snapshot)["trades"].values() if t["fills"])


def _closed_position(snapshot: dict[str, Any]) -> dict[str, Any]:
    return next(iter(snapshot["portfolio"]["closed_positions"].values()))


UNKNOWN_PROPERTIES: dict[str, Mutation] = {
    "top level": lambda s: s.update(extra=1),
    "portfolio": lambda s: s["portfolio"].update(cash="1"),
    "position": lambda s: _open_position(s).update(status="open"),
    "trade": lambda s: _first_trade(s).update(id=3),
    "balance update": lambda s: s["portfolio"]["balance_updates"][0].update(currency="USDT"),
    "valuation": lambda s: s["equity"]["last"].update(drawdown="0"),
    "equity summary": lambda s: s["equity"].update(curve=[]),
    "run": lambda s: s["uptime"]["runs"][0].update(pid=1),
    "pair": lambda s: s["pairs"]["1"].update(tick_size="0.01"),
    "asset": lambda s: s["assets"]["BTC"].update(name="Bitcoin"),
    "fill column": lambda s: _filled_trade(s)["fills"][0].append("extra"),
}


@pytest.mark.parametrize("where", UNKNOWN_PROPERTIES)
def test_schema_rejects_an_unknown_property(rich_snapshot: dict[str, Any], where: str) -> None:
    broken = copy.deepcopy(rich_snapshot)
    UNKNOWN_PROPERTIES[where](broken)
    assert schema_errors(broken), f"an unknown property in the {where} was accepted"


# JSON Schema counts 2.0 as an integer, so only a fractional float is refused here; the Node
# checker, which reads the number's text, refuses 2.0 too (tests/test_js_client.py).
BAD_VALUES: dict[str, Mutation] = {
    "float": lambda s: s.update(cycle=2.5),
    "unsafe integer": lambda s: s["portfolio"].update(next_trade_id=2**53),
    "decimal as a number": lambda s: s["portfolio"]["reserves"].update(USDT=1000),
    "decimal with a comma": lambda s: s["portfolio"]["reserves"].update(USDT="1,000"),
    "decimal in lower-case exponent form": lambda s: s["portfolio"]["reserves"].update(USDT="1e3"),
    "NaN decimal": lambda s: s["portfolio"]["reserves"].update(USDT="NaN"),
    "negative reserve": lambda s: s["portfolio"]["reserves"].update(USDT="-5"),
    "timestamp without Z": lambda s: _first_trade(s).update(planned_at="2026-01-01T00:00:03.000+00:00"),
    "timestamp without milliseconds": lambda s: _first_trade(s).update(planned_at="2026-01-01T00:00:03Z"),
    "timestamp of a day that does not exist": lambda s: _first_trade(s).update(
        planned_at="2026-02-30T00:00:00.000Z"
    ),
    "timestamp as Unix time": lambda s: s["equity"]["last"].update(at=1767225600000),
    "negative drawdown": lambda s: s["equity"].update(max_drawdown="-0.1"),
    "unknown trade status": lambda s: _first_trade(s).update(status="open"),
    "unknown side": lambda s: _first_trade(s).update(side="long"),
    "market order with a limit price": lambda s: _filled_trade(s).update(type="market", limit="1"),
    "limit order without a limit price": lambda s: _filled_trade(s).update(type="limit"),
    "filled trade without fills": lambda s: _filled_trade(s).update(fills=[]),
    "fill row too short": lambda s: _filled_trade(s)["fills"][0].pop(),
    "zero fill price": lambda s: _filled_trade(s)["fills"][0].__setitem__(1, "0"),
    "closed position with a mark price": lambda s: _closed_position(s).update(mark_price="1"),
    "closed position with quantity": lambda s: _closed_position(s).update(qty="0.1"),
    "open position with closed_at": lambda s: _open_position(s).update(closed_at="2026-01-01T00:00:00.000Z"),
    "frozen position without a reason": lambda s: next(iter(s["portfolio"]["frozen_positions"].values())).pop(
        "frozen_reason"
    ),
    "unknown direction": lambda s: _open_position(s).update(direction="flat"),
    "position key that is not an id": lambda s: s["portfolio"]["open_positions"].update(
        {"02": _open_position(s)}
    ),
    "positive withdrawal": lambda s: next(
        u for u in s["portfolio"]["balance_updates"] if u["kind"] == "withdrawal"
    ).update(amount="2500"),
    "unknown balance update kind": lambda s: s["portfolio"]["balance_updates"][0].update(kind="airdrop"),
    "newer schema version": lambda s: s.update(schema_version=SCHEMA_VERSION + 1),
}


@pytest.mark.parametrize("what", BAD_VALUES)
def test_schema_rejects_a_bad_value(rich_snapshot: dict[str, Any], what: str) -> None:
    broken = copy.deepcopy(rich_snapshot)
    BAD_VALUES[what](broken)
    assert schema_errors(broken), f"the schema accepted a snapshot with a {what}"


# --- the guide stays in step -------------------------------------------------------------------

ELIDED = "…"


def _matches(documented: Any, real: Any) -> bool:
    """Does the guide's excerpt match the real snapshot, with "…" standing for what it omits?

    In a list, documented items must appear in order; "…" skips any number of items, and a list
    that does not end with "…" must end with the real list's last item.
    """
    if documented == ELIDED:
        return True
    if isinstance(documented, dict):
        return isinstance(real, dict) and all(
            key == ELIDED or (key in real and _matches(value, real[key])) for key, value in documented.items()
        )
    if isinstance(documented, list):
        if not isinstance(real, list):
            return False
        remaining = iter(real)
        in_order = all(
            item == ELIDED or any(_matches(item, candidate) for candidate in remaining) for item in documented
        )
        ends_right = (
            not documented or documented[-1] == ELIDED or (bool(real) and _matches(documented[-1], real[-1]))
        )
        return in_order and ends_right
    return documented == real


def test_the_guide_example_is_an_excerpt_of_the_rich_snapshot(rich_snapshot: dict[str, Any]) -> None:
    guide = (ROOT / "docs" / "state.md").read_text()
    excerpt = json.loads(guide.split("```json\n", 1)[1].split("\n```", 1)[0])
    assert _matches(excerpt, rich_snapshot)


def test_the_guide_states_the_rich_snapshot_equity(tmp_path: Path) -> None:
    _, state = write_snapshot(tmp_path, rich_events())
    assert f"**{state.total_equity()}**" in (ROOT / "docs" / "state.md").read_text()
