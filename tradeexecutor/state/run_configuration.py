"""The configuration a state is run with: what `run_configured` events record.

Resuming a state with a different strategy, fees, pair or data would silently mix two
experiments in one log; the session compares the configuration it is about to run with this one
and refuses a difference unless the operator accepts it (and the acceptance is recorded too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tradeexecutor.state.values import format_optional_time, parse_decimal, parse_optional_time


@dataclass(slots=True, frozen=True)
class RunConfiguration:
    strategy: str
    strategy_sha256: str
    mode: str
    pair: str
    fee: Decimal
    slippage_bps: Decimal
    fill_at: str
    initial_cash: Decimal
    data: str
    data_sha256: str | None = None
    data_first_at: datetime | None = None
    data_last_at: datetime | None = None
    exchange_url: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "strategy_sha256": self.strategy_sha256,
            "mode": self.mode,
            "pair": self.pair,
            "fee": str(self.fee),
            "slippage_bps": str(self.slippage_bps),
            "fill_at": self.fill_at,
            "initial_cash": str(self.initial_cash),
            "data": self.data,
            "data_sha256": self.data_sha256,
            "data_first_at": format_optional_time(self.data_first_at),
            "data_last_at": format_optional_time(self.data_last_at),
            "exchange_url": self.exchange_url,
            "parameters": dict(self.parameters),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfiguration:
        return cls(
            strategy=data["strategy"],
            strategy_sha256=data["strategy_sha256"],
            mode=data["mode"],
            pair=data["pair"],
            fee=parse_decimal(data["fee"]),
            slippage_bps=parse_decimal(data["slippage_bps"]),
            fill_at=data["fill_at"],
            initial_cash=parse_decimal(data["initial_cash"]),
            data=data["data"],
            data_sha256=data["data_sha256"],
            data_first_at=parse_optional_time(data["data_first_at"]),
            data_last_at=parse_optional_time(data["data_last_at"]),
            exchange_url=data["exchange_url"],
            parameters=dict(data["parameters"]),
        )
