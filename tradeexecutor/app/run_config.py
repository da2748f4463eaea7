"""The run configuration of a session, and the check that a resume runs what the state started with.

Identity (a change is refused unless the operator accepts it): the strategy's source digest, its
parameters, the mode, the pair, and for simulated venues the fee, slippage, fill price rule and
initial cash; the data file's path and first candle (`--start`), or in live mode the exchange id
and timeframe. Free (recorded for the audit, never refused): the strategy's path (a moved file
with the same source is the same strategy), the data file's digest and last candle (a file that
grew by new candles, or a later `--end`), the exchange URL, and the run-time options
(`--max-cycles`, `--cycle-duration`, `--progress`, `--report`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tradeexecutor.market.candles import Candle
from tradeexecutor.market.sample_data import SAMPLE_DATA_PATH
from tradeexecutor.state.events import RunConfigured
from tradeexecutor.state.run_configuration import RunConfiguration
from tradeexecutor.state.state import State
from tradeexecutor.strategy.loader import LoadedStrategy
from tradeexecutor.strategy.runner import RunSetupError

if TYPE_CHECKING:
    from tradeexecutor.app.session import SessionConfig

SAMPLE_DATA = "(bundled sample data)"
IN_MEMORY = "(candles in memory)"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def candles_sha256(candles: Sequence[Candle]) -> str:
    """A digest of candles given in memory (no file to hash)."""
    digest = hashlib.sha256()
    for c in candles:
        digest.update(f"{c.at.isoformat()},{c.open},{c.high},{c.low},{c.close},{c.volume}\n".encode())
    return digest.hexdigest()


def from_session(
    config: SessionConfig, strategy: LoadedStrategy, candles: Sequence[Candle], initial_cash: Decimal | None = None
) -> RunConfiguration:
    """What this session is about to run; `candles` are the selected candles (empty in live mode)."""
    if config.mode == "live":
        data, digest, url = f"exchange {config.exchange} {config.timeframe}", None, config.exchange_url
    elif config.candles is not None:
        data, digest, url = IN_MEMORY, candles_sha256(config.candles), None
    elif config.data is None:
        data, digest, url = SAMPLE_DATA, file_sha256(SAMPLE_DATA_PATH), None
    else:
        data, digest, url = str(Path(config.data).resolve()), file_sha256(Path(config.data)), None
    return RunConfiguration(
        strategy=str(strategy.path),
        strategy_sha256=strategy.source_sha256,
        mode=config.mode,
        pair=config.pair,
        fee=config.fee,
        slippage_bps=config.slippage_bps,
        fill_at=config.fill_at,
        initial_cash=config.initial_cash if initial_cash is None else initial_cash,
        data=data,
        data_sha256=digest,
        data_first_at=candles[0].at if candles else None,
        data_last_at=candles[-1].at if candles else None,
        exchange_url=url,
        parameters={name: str(value) for name, value in strategy.parameters.items()},
    )


def _when(value: datetime | None) -> str:
    return "none" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def differences(old: RunConfiguration, new: RunConfiguration) -> list[str]:
    """The identity changes from `old` to `new`, one short phrase each ("fee 0.001 -> 0.002")."""
    changes: list[str] = []
    if old.strategy_sha256 != new.strategy_sha256:
        if old.strategy == new.strategy:
            changes.append(
                f"strategy source {Path(new.strategy).name} changed "
                f"(sha256 {old.strategy_sha256[:12]} -> {new.strategy_sha256[:12]})"
            )
        else:
            changes.append(f"strategy {old.strategy} -> {new.strategy}")
    for name in sorted(set(old.parameters) | set(new.parameters)):
        before, after = old.parameters.get(name, "(unset)"), new.parameters.get(name, "(unset)")
        if before != after:
            changes.append(f"parameter {name} {before} -> {after}")
    for label, before, after in (("mode", old.mode, new.mode), ("pair", old.pair, new.pair)):
        if before != after:
            changes.append(f"{label} {before} -> {after}")
    if new.mode != "live" and old.mode != "live":  # the exchange sets fees, fills and cash in live mode
        simulated = (
            ("fee", old.fee, new.fee),
            ("slippage_bps", old.slippage_bps, new.slippage_bps),
            ("fill_at", old.fill_at, new.fill_at),
            ("initial cash", old.initial_cash, new.initial_cash),
        )
        changes.extend(f"{label} {before} -> {after}" for label, before, after in simulated if before != after)
    if old.data != new.data:
        changes.append(f"data {old.data} -> {new.data}")
    elif old.data_first_at != new.data_first_at:
        changes.append(f"data start {_when(old.data_first_at)} -> {_when(new.data_first_at)}")
    return changes


def configuration_event(
    state: State, new: RunConfiguration, accept_change: bool
) -> Callable[[datetime], RunConfigured] | None:
    """The `run_configured` event to record for this run (made at the time the runner gives), or
    None when the recorded configuration already is this one.

    A new state gets one; a state from before run configurations were recorded gets one; a
    changed identity is refused with RunSetupError listing the changes, unless `accept_change`,
    in which case the event lists them in `accepted_changes`. Nothing is appended here.
    """
    old = state.run_configuration
    changes: list[str] = []
    if old is not None and state.created_at is not None:
        changes = differences(old, new)
        if not changes:
            return None
        if not accept_change:
            raise RunSetupError(
                "this state was started with a different configuration: " + ", ".join(changes)
                + "; rerun with the original options, use --fresh or another --id, "
                "or pass --accept-config-change to record the change"
            )  # fmt: skip

    def event(at: datetime) -> RunConfigured:
        return RunConfigured(
            at, new.strategy, new.strategy_sha256, new.mode, new.pair, new.fee, new.slippage_bps, new.fill_at,
            new.initial_cash, new.data, new.data_sha256, new.data_first_at, new.data_last_at, new.exchange_url,
            dict(new.parameters), tuple(changes),
        )  # fmt: skip

    return event


def recorded_initial_cash(state: State, default: Decimal) -> Decimal:
    """The cash a live state started with: its recorded configuration's, else its first deposit."""
    if state.run_configuration is not None:
        return state.run_configuration.initial_cash
    for update in state.portfolio.balance_updates:
        if update.kind.value == "deposit" and update.amount > 0:
            return update.amount
    return default
