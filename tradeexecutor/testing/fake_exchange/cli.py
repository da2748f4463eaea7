"""Command line entry point: run a fake Binance exchange until Ctrl-C (or SIGTERM).

Why: lets a user (or a test in another process) try the executor against a
local exchange driven by a CSV of candles, e.g.
``python -m tradeexecutor.testing.fake_exchange --data GOOG.csv --deposit USDT=10000``.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation

from .book import BookConfig, MarketSpec
from .candles import default_candles, load_candles_csv
from .server import FakeExchange

__all__ = ["build_parser", "main"]


def _deposit(text: str) -> tuple[str, Decimal]:
    asset, sep, amount = text.partition("=")
    try:
        if not sep or not asset:
            raise ValueError
        return asset.upper(), Decimal(amount)
    except (ValueError, InvalidOperation):
        raise argparse.ArgumentTypeError(f"expected ASSET=AMOUNT, got {text!r}") from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range: give 0 to 65535 (0 picks a free one)")
    return value


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """Argument parser (exposed so a parent CLI can reuse it)."""
    parser = argparse.ArgumentParser(
        prog="fake-exchange", description="Serve a fake Binance spot REST API driven by candle data."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=_port, default=0, help="port, 0 picks a free one (default: 0)")
    parser.add_argument(
        "--data", help="CSV with Date,Open,High,Low,Close,Volume (default: generated candles)"
    )
    parser.add_argument("--symbol", default="BTC/USDT", help="market symbol BASE/QUOTE (default: BTC/USDT)")
    parser.add_argument(
        "--deposit",
        action="append",
        type=_deposit,
        default=[],
        metavar="ASSET=AMOUNT",
        help="initial balance",
    )
    parser.add_argument(
        "--advance-every", type=float, metavar="SECONDS", help="move to the next candle periodically"
    )
    parser.add_argument("--fee", type=_decimal, default=Decimal("0.001"), help="maker and taker fee rate")
    parser.add_argument("--tick-size", type=_decimal, default=Decimal("0.01"))
    parser.add_argument("--step-size", type=_decimal, default=Decimal("0.00001"))
    parser.add_argument("--min-notional", type=_decimal, default=Decimal("5"))
    parser.add_argument("--book-levels", type=int, default=5)
    parser.add_argument(
        "--level-qty", type=_decimal, help="quantity per book level (default: share of volume)"
    )
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the server until interrupted; returns the process exit code."""
    return serve(build_parser().parse_args(argv))


def serve(args: argparse.Namespace) -> int:
    """Run the server for already parsed options (`trade-executor fake-exchange` parses them)."""
    try:
        candles = load_candles_csv(args.data) if args.data else default_candles()
        spec = MarketSpec.from_symbol(
            args.symbol,
            tick_size=args.tick_size,
            min_price=args.tick_size,
            step_size=args.step_size,
            min_qty=args.step_size,
            min_notional=args.min_notional,
        )
        exchange = FakeExchange(
            candles,
            markets=[spec],
            host=args.host,
            port=args.port,
            balances=dict(args.deposit),
            maker_fee=args.fee,
            taker_fee=args.fee,
            book=BookConfig(levels=args.book_levels, level_qty=args.level_qty),
        )
    except (OSError, ValueError) as exc:
        print(f"fake-exchange: {exc}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host):
        print(
            f"fake-exchange: WARNING: listening on {args.host}, not loopback; anyone can trade",
            file=sys.stderr,
        )
    try:
        exchange.start()
    except (OSError, OverflowError) as exc:  # port in use, out of range, address not local
        print(f"fake-exchange: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (e.g. from a test harness) shuts down as cleanly as Ctrl-C
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        print(
            f"Fake Binance exchange at {exchange.url} ({spec.symbol}, {len(candles)} candles)", flush=True
        )
        print(f"API key:    {exchange.api_key}", flush=True)
        print(f"API secret: {exchange.api_secret}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            if args.advance_every:
                stop.wait(args.advance_every)
                if exchange.advance() == 0:
                    print("fake-exchange: end of candle data, price stays", flush=True)
                    args.advance_every = None
                else:
                    print(f"candle advanced, price {exchange.price()}", flush=True)
            else:
                stop.wait(3600)
    except KeyboardInterrupt:
        pass
    finally:
        exchange.stop()
    print("fake-exchange: stopped", flush=True)
    return 0
