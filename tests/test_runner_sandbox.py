"""What a misbehaving strategy can no longer do: change the state, end the process, hang the run,
flood it with intents, or bury its error under a traceback too deep to keep.

Every failure ends the run with one `strategy_failed` event whose text names the strategy, the
hook and the cycle; the state saved afterwards is the one the log replays to.
"""

from __future__ import annotations

import copy
import signal
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from test_runner import EXECUTOR, START, flat, logged, of_type, run, strategy_file

from tradeexecutor.state.events import (
    CycleCompleted,
    IntentRefused,
    StrategyDecided,
    StrategyFailed,
    TradePlanned,
)
from tradeexecutor.state.identifiers import PairKind
from tradeexecutor.state.position import Direction, Position
from tradeexecutor.store.paths import StatePaths
from tradeexecutor.store.seal import unseal
from tradeexecutor.store.snapshot import dump_state
from tradeexecutor.store.state_store import load_state
from tradeexecutor.strategy.readonly import MutationGuard, StateMutationError, read_only
from tradeexecutor.strategy.runstate import RunState

# A bought position from cycle 2 on, so that there are positions and trades to tamper with.
BUY_AT_1 = """
def buy(cycle):
    return [market_buy(quantity=Decimal('1'))] if cycle.cycle == 1 else []
"""

MUTATIONS = {
    "reserve": ("cycle.state.portfolio.reserves['USDT'] += Decimal(1000)", "state.portfolio.reserves"),
    "position": ("cycle.position.quantity = Decimal(5)", "position.quantity"),
    "list": ("cycle.state.portfolio.balance_updates.append(None)", "state.portfolio.balance_updates"),
    "summary": ("cycle.state.equity.points = 0", "state.equity.points"),
    "nested": ("cycle.state.portfolio.open_positions[1].trades[1].fills.clear()", "fills"),
    "scalar": ("cycle.state.cycle = 99", "state.cycle"),
}


def replays_to_the_snapshot(tmp_path: Path) -> bool:
    paths = StatePaths(tmp_path / "state", EXECUTOR)
    return dump_state(load_state(paths, use_snapshot=False)) == unseal(paths.snapshot.read_bytes())[0]


def hook_body(hook: str, statement: str) -> str:
    """A strategy that buys at cycle 1 and runs `statement` in `hook` from cycle 3 on."""
    if hook == "decide":
        return BUY_AT_1 + f"""
def decide(cycle):
    if cycle.cycle >= 3:
        {statement}
    return buy(cycle)
"""
    if hook == "on_fill":
        return BUY_AT_1 + f"""
def decide(cycle):
    return buy(cycle)

def on_fill(cycle, trade):
    {statement}
    return []
"""
    return BUY_AT_1 + f"""
def decide(cycle):
    return buy(cycle)

def on_start(cycle):
    {statement}
    return []
"""


@pytest.mark.parametrize("hook", ["decide", "on_fill", "on_start"])
@pytest.mark.parametrize("what", sorted(MUTATIONS))
def test_a_strategy_changing_the_state_stops_the_run_and_the_log_still_replays(
    tmp_path: Path, hook: str, what: str
) -> None:
    statement, where = MUTATIONS[what]
    if hook == "on_start" and what in ("position", "nested"):
        statement = statement.replace("cycle.position", "cycle.state.portfolio")  # no position yet
        statement = statement.replace(".open_positions[1].trades[1].fills", ".balance_updates")
        where = "portfolio" if what == "position" else "balance_updates"
    if hook == "on_fill" and what in ("position", "nested"):
        statement = "trade.fills.clear()" if what == "nested" else "trade.quantity = Decimal(5)"
        where = "trade.fills" if what == "nested" else "trade.quantity"
    strategy = strategy_file(tmp_path, hook_body(hook, statement), name="tamperer")
    outcome = run(tmp_path, strategy, flat(6))
    cycle = {"decide": 3, "on_fill": 2, "on_start": 1}[hook]
    assert outcome.crash is not None and outcome.crash.cycle == cycle
    message = outcome.crash.error
    assert message.startswith(f"strategy tamperer tried to change the state in {hook} at cycle {cycle} (")
    assert where in message
    assert message.endswith("); strategies must not mutate State: return intents instead")
    (failed,) = of_type(logged(tmp_path), StrategyFailed)
    assert failed.error == message and failed.cycle == cycle
    cash = outcome.state.portfolio.reserves["USDT"]
    assert cash == 10000 if hook == "on_start" else cash < 10000  # only the buy changed the cash
    assert outcome.state.cycle == cycle - 1
    assert replays_to_the_snapshot(tmp_path)


def test_a_strategy_swallowing_the_refusal_is_stopped_all_the_same(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        def decide(cycle):
            try:
                cycle.state.portfolio.reserves['USDT'] = Decimal(0)
            except Exception:
                pass
            return []
        """,
        name="sneaky",
    )
    outcome = run(tmp_path, strategy, flat(3))
    assert outcome.crash is not None
    assert outcome.crash.error == (
        "strategy sneaky tried to change the state in decide at cycle 1 (state.portfolio.reserves); "
        "strategies must not mutate State: return intents instead"
    )
    assert outcome.state.cash() == 10000
    assert replays_to_the_snapshot(tmp_path)


def test_reading_the_state_works_as_before_through_the_view(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        from tradeexecutor.state.position import Position
        SEEN = []

        def decide(cycle):
            state = cycle.state
            positions = list(state.portfolio.live_positions())
            SEEN.append((
                state.cash(), state.total_equity(), state.equity.points, dict(state.portfolio.reserves),
                [isinstance(p, Position) for p in positions], [t.status.value for t in cycle.pending_trades()],
                cycle.position.quantity if cycle.position else None,
                [state.equity.last.equity] if state.equity.last else [],
            ))
            return [market_buy(quantity=Decimal('1'))] if cycle.cycle == 1 else []
        """,
    )
    outcome = run(tmp_path, strategy, flat(3))
    assert outcome.crash is None
    seen = strategy.module.SEEN
    assert seen[0] == (10000, 10000, 0, {"USDT": 10000}, [], [], None, [])
    assert seen[1][4] == [True] and seen[1][6] == 1 and seen[1][2] == 1


def test_a_view_copies_into_a_private_mutable_state() -> None:
    position = Position(1, 1, PairKind.spot, Direction.long, START, quantity=Decimal(1))
    guard = MutationGuard()
    view = read_only(position, "position", guard)
    assert isinstance(view, Position) and view == position and view.quantity == 1
    private = copy.deepcopy(view)
    private.quantity = 7
    assert position.quantity == 1 and guard.attempt is None
    with pytest.raises(StateMutationError, match="position.trades is read-only"):
        view.trades[3] = None
    assert guard.attempt == "position.trades"
    as_dict = view.to_dict()  # a new dict of plain values, the caller's own
    as_dict["qty"] = "0"
    assert type(as_dict) is dict and position.quantity == 1


# --- ending the process ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "call"),
    [
        ("sys.exit(0)", "sys.exit(0)"),
        ("raise SystemExit(2)", "sys.exit(2)"),
        ("os._exit(0)", "os._exit(0)"),
    ],
)
def test_a_strategy_ending_the_process_is_a_strategy_failure(tmp_path: Path, statement: str, call: str) -> None:
    strategy = strategy_file(
        tmp_path,
        f"""
        import os, sys

        def decide(cycle):
            if cycle.cycle == 2:
                {statement}
            return []
        """,
        name="quitter",
    )
    outcome = run(tmp_path, strategy, flat(4))
    assert outcome.crash is not None
    assert outcome.crash.error == (
        f"strategy quitter called {call} in decide at cycle 2; a strategy must return intents, not end the process"
    )
    assert [e.cycle for e in of_type(logged(tmp_path), StrategyFailed)] == [2]
    import os

    assert os._exit.__module__ == "posix"  # restored after the call


# --- time limit --------------------------------------------------------------------------------------


def run_with_timeout(tmp_path: Path, body: str, timeout: float, name: str = "slow") -> tuple[object, list[object]]:
    from tradeexecutor.execution.simulated import SimulatedVenue
    from tradeexecutor.store.state_store import StateStore
    from tradeexecutor.strategy.runner import CycleRunner, RunConfig

    strategy = strategy_file(tmp_path, body, name=name)
    config = RunConfig(EXECUTOR, "paper", decide_timeout=timeout)
    with StateStore(tmp_path / "state", EXECUTOR, fsync_each_batch=False) as store:
        outcome = CycleRunner(store, strategy, SimulatedVenue(), flat(4), config, run_state=RunState()).run()
    return outcome, logged(tmp_path)


BUSY = "while True:\n        pass"
# `HookTimeout` is a BaseException: a strategy's `except Exception` does not swallow it.
SWALLOWING = "while True:\n        try:\n            sum(range(1000))\n        except Exception:\n            pass"


@pytest.mark.parametrize("loop", [BUSY, SWALLOWING], ids=["busy", "swallowing"])
def test_a_hanging_strategy_is_stopped_at_the_time_limit(tmp_path: Path, loop: str) -> None:
    body = f"def decide(cycle):\n    if cycle.cycle != 2:\n        return []\n    {loop}\n"
    handler_before = signal.getsignal(signal.SIGALRM)
    outcome, events = run_with_timeout(tmp_path, body, 0.3)
    assert outcome.crash is not None  # type: ignore[attr-defined]
    message = "strategy slow took longer than 0.3s in decide at cycle 2; raise --decide-timeout or fix the strategy"
    assert outcome.crash.error == message  # type: ignore[attr-defined]
    (failed,) = of_type(events, StrategyFailed)  # type: ignore[arg-type]
    assert failed.error == message
    assert signal.getsignal(signal.SIGALRM) is handler_before  # restored (pytest-timeout's, here)


def test_a_strategy_within_its_time_limit_is_not_disturbed(tmp_path: Path) -> None:
    outcome, events = run_with_timeout(
        tmp_path, "import time\n\ndef decide(cycle):\n    time.sleep(0.05)\n    return []\n", 5
    )
    assert outcome.crash is None  # type: ignore[attr-defined]
    assert len(of_type(events, CycleCompleted)) == 4  # type: ignore[arg-type]


def test_off_the_main_thread_the_time_limit_is_not_enforced_but_the_run_works(tmp_path: Path) -> None:
    results: list[object] = []
    body = "def decide(cycle):\n    return []\n"
    worker = threading.Thread(target=lambda: results.append(run_with_timeout(tmp_path, body, 0.1)))
    worker.start()
    worker.join(60)
    (outcome, _), = results
    assert outcome.crash is None and outcome.cycles_run == 4  # type: ignore[attr-defined]


def test_session_time_limit_defaults_to_60s_in_paper_and_live_and_none_in_backtest() -> None:
    from tradeexecutor.app.session import SessionConfig

    assert SessionConfig(mode="paper").hook_time_limit() == 60
    assert SessionConfig(mode="live").hook_time_limit() == 60
    assert SessionConfig(mode="backtest").hook_time_limit() is None
    assert SessionConfig(mode="backtest", decide_timeout=5).hook_time_limit() == 5
    assert SessionConfig(mode="paper", decide_timeout=0).hook_time_limit() is None


# --- intents per cycle -------------------------------------------------------------------------------


def test_ten_thousand_intents_are_capped_and_the_excess_refused_in_one_event(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        def decide(cycle):
            if cycle.cycle == 1:
                return [limit_buy(Decimal('50'), quantity=Decimal('0.001')) for _ in range(10_000)]
            return []
        """,
    )
    outcome = run(tmp_path, strategy, flat(3))
    assert outcome.crash is None and outcome.cycles_run == 3
    events = logged(tmp_path)
    assert len(of_type(events, TradePlanned)) == 100
    (decided,) = of_type(events, StrategyDecided)
    assert len(decided.intents) == 100
    (refused,) = of_type(events, IntentRefused)
    assert refused.intent == "limit buy quantity=0.001 limit=50 and 9899 more"
    assert refused.reason == "more than 100 intents in one cycle (max_intents_per_cycle)"
    assert len(events) < 400
    assert outcome.state.refusals.intents == 1


# --- deep tracebacks -----------------------------------------------------------------------------


def test_a_recursion_error_gives_one_readable_message_and_a_short_traceback(tmp_path: Path) -> None:
    strategy = strategy_file(
        tmp_path,
        """
        def deeper(n):
            return deeper(n + 1) + 1

        def decide(cycle):
            if cycle.cycle == 2:
                deeper(0)
            return []
        """,
        name="recursive",
    )
    run_state = RunState()
    outcome = run(tmp_path, strategy, flat(3), run_state=run_state)
    assert outcome.crash is not None
    assert outcome.crash.error == (
        "strategy recursive failed in decide at cycle 2: RecursionError: maximum recursion depth exceeded"
    )
    text = outcome.crash.format()  # rebuilt from tblib's serialised form
    assert f'File "{strategy.path}", line 9, in deeper' in text
    assert text.count("\n") < 60
    (failed,) = of_type(logged(tmp_path), StrategyFailed)
    assert len(failed.traceback) < 5000 and "During handling" not in failed.traceback
    assert failed.traceback.rstrip().endswith(outcome.crash.error)
