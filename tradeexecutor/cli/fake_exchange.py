"""`trade-executor fake-exchange`: the test exchange server, for paper trading through real ccxt."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from tradeexecutor.testing.fake_exchange.cli import serve

    return serve(args)


def register(commands: argparse._SubParsersAction) -> None:
    from tradeexecutor.testing.fake_exchange.cli import build_parser

    parser = commands.add_parser(
        "fake-exchange",
        parents=[build_parser()],
        add_help=False,
        help="serve a fake Binance spot API on 127.0.0.1 driven by candle data",
        description="Serve a fake Binance spot REST API driven by candle data; point "
        "`trade-executor start --mode live --exchange-url URL` at it.",
    )
    parser.set_defaults(handler=_run)
