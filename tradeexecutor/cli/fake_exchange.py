"""`trade-executor fake-exchange`: the test exchange server, for paper trading through real ccxt."""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

import click

from tradeexecutor.cli.options import DecimalRange, option


class Deposit(click.ParamType[tuple[str, Decimal]]):
    """`ASSET=AMOUNT`, an initial balance of the fake account."""

    name = "asset=amount"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, Decimal]:
        if isinstance(value, tuple):
            return value
        asset, sep, amount = str(value).partition("=")
        if not sep or not asset.strip():
            self.fail(f"expected ASSET=AMOUNT, got {value!r}", param, ctx)
        return asset.strip().upper(), DecimalRange(Decimal(0)).convert(amount, param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "ASSET=AMOUNT"


POSITIVE = DecimalRange(Decimal(0), low_open=True)


@click.command(
    "fake-exchange",
    help="Serve a fake Binance spot REST API on 127.0.0.1 driven by candle data; point "
    "`trade-executor start --mode live --exchange-url URL` at it.",
    short_help="Serve a fake Binance spot API on 127.0.0.1 driven by candle data",
)
@option("--host", default="127.0.0.1", help="bind address (loopback only unless you mean it)")
@option("--port", type=click.IntRange(0, 65535), default=0, help="TCP port, 0 picks a free one")
@option("--data", help="CSV with Date,Open,High,Low,Close,Volume (default: generated candles)")
@option("--symbol", default="BTC/USDT", help="market symbol BASE/QUOTE")
@option("--deposit", type=Deposit(), multiple=True, help="initial balance (repeatable)")
@option("--advance-every", type=click.FloatRange(min=0, min_open=True), help="move to the next candle every SECONDS")
@option("--fee", type=DecimalRange(Decimal(0), Decimal(1), high_open=True), default="0.001", help="maker and taker fee rate")
@option("--tick-size", type=POSITIVE, default="0.01", help="price step")
@option("--step-size", type=POSITIVE, default="0.00001", help="quantity step")
@option("--min-notional", type=DecimalRange(Decimal(0)), default="5", help="smallest order value")
@option("--book-levels", type=click.IntRange(min=1), default=5, help="order book levels per side")
@option("--level-qty", type=POSITIVE, help="quantity per book level (default: share of volume)")
def fake_exchange_command(**options: Any) -> int:
    from tradeexecutor.testing.fake_exchange.cli import serve

    options["deposit"] = list(options["deposit"])
    return serve(argparse.Namespace(**options))
