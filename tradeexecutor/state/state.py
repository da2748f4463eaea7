"""The `State` root: everything the executor knows, rebuilt by folding the event log.

Nothing but the reducer (`tradeexecutor.state.reducer.apply`) changes a `State`; everything else
reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from tradeexecutor.state.identifiers import Asset, TradingPair
from tradeexecutor.state.portfolio import Portfolio, PositionsEncoder, encode_positions
from tradeexecutor.state.refusals import Refusals
from tradeexecutor.state.run_configuration import RunConfiguration
from tradeexecutor.state.uptime import Uptime
from tradeexecutor.state.valuation import EquitySummary
from tradeexecutor.state.values import ZERO, format_optional_time, parse_decimal, parse_optional_time

#: The decimal context of all state arithmetic (the reducer normalises its thread to it).
VALUATION_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)

#: Version of the snapshot's JSON layout; the store migrates older snapshots or refuses newer ones.
#: 2: the equity curve (`valuations`) left the snapshot for the equity file; `equity` summarises it.
SCHEMA_VERSION = 2


@dataclass(slots=True)
class State:
    schema_version: int = SCHEMA_VERSION
    executor_id: str | None = None
    created_at: datetime | None = None
    reserve_currency: str | None = None
    cycle: int = 0
    last_event_seq: int = 0
    assets: dict[str, Asset] = field(default_factory=dict)
    pairs: dict[int, TradingPair] = field(default_factory=dict)
    portfolio: Portfolio = field(default_factory=Portfolio)
    #: The equity curve's summary; the curve itself is in the store's equity file (`store/equity.py`).
    equity: EquitySummary = field(default_factory=EquitySummary)
    uptime: Uptime = field(default_factory=Uptime)
    strategy_states: dict[str, str] = field(default_factory=dict)
    last_prices: dict[int, Decimal] = field(default_factory=dict)
    first_prices: dict[int, Decimal] = field(default_factory=dict)
    refusals: Refusals = field(default_factory=Refusals)
    #: The configuration of the latest `run_configured` event; None in states from before it existed.
    run_configuration: RunConfiguration | None = None

    def cash(self) -> Decimal:
        """The reserve in the reserve currency (zero before the state is created)."""
        if self.reserve_currency is None:
            return ZERO
        return self.portfolio.reserve(self.reserve_currency)

    def positions_value(self) -> Decimal:
        """Value of open and frozen positions; computed in the reducer's decimal context (28
        digits, half-even) whatever the caller's thread context is, so every reader agrees."""
        with localcontext(VALUATION_CONTEXT):
            return sum((p.value for p in self.portfolio.live_positions()), ZERO)

    def total_equity(self) -> Decimal:
        """Cash plus the value of open and frozen positions at their last mark prices."""
        with localcontext(VALUATION_CONTEXT):
            return self.cash() + self.positions_value()

    def to_dict(self, positions: PositionsEncoder = encode_positions) -> dict[str, Any]:
        """The snapshot's JSON object; `positions` encodes the portfolio's position maps."""
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "executor_id": self.executor_id,
            "created_at": format_optional_time(self.created_at),
            "reserve_currency": self.reserve_currency,
            "cycle": self.cycle,
            "last_event_seq": self.last_event_seq,
            "assets": {k: a.to_dict() for k, a in self.assets.items()},
            "pairs": {str(k): p.to_dict() for k, p in self.pairs.items()},
            "portfolio": self.portfolio.to_dict(positions),
            "equity": self.equity.to_dict(),
            "uptime": self.uptime.to_dict(),
            "strategy_states": dict(self.strategy_states),
            "last_prices": {str(k): str(v) for k, v in self.last_prices.items()},
            "first_prices": {str(k): str(v) for k, v in self.first_prices.items()},
            "refusals": self.refusals.to_dict(),
        }
        if self.run_configuration is not None:  # absent in states that never recorded one
            data["run_configuration"] = self.run_configuration.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> State:
        pairs = {int(k): TradingPair.from_dict(p) for k, p in data["pairs"].items()}
        run_configuration = data.get("run_configuration")
        return cls(
            schema_version=data["schema_version"],
            executor_id=data["executor_id"],
            created_at=parse_optional_time(data["created_at"]),
            reserve_currency=data["reserve_currency"],
            cycle=data["cycle"],
            last_event_seq=data["last_event_seq"],
            assets={k: Asset.from_dict(a) for k, a in data["assets"].items()},
            pairs=pairs,
            portfolio=Portfolio.from_dict(data["portfolio"], {k: p.kind for k, p in pairs.items()}),
            equity=EquitySummary.from_dict(data["equity"]),
            uptime=Uptime.from_dict(data["uptime"]),
            strategy_states=dict(data["strategy_states"]),
            last_prices={int(k): parse_decimal(v) for k, v in data["last_prices"].items()},
            first_prices={int(k): parse_decimal(v) for k, v in data["first_prices"].items()},
            refusals=Refusals.from_dict(data.get("refusals")),
            run_configuration=None if run_configuration is None else RunConfiguration.from_dict(run_configuration),
        )
