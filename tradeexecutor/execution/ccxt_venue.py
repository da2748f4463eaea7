"""The live venue: orders on a real exchange API through ccxt (spot; shaped for perpetuals).

Crash safety rests on three rules:
* the runner logs `trade_planned` (with the client order id) and fsyncs it before `submit`;
* an order whose fate is unknown after a network error is looked up by its client order id,
  never sent again;
* every cycle (and at start-up) open trades are refreshed from the exchange, so a fill that
  happened while we were down is picked up, once (fills are keyed by the exchange's trade id).
Transient errors (5xx, 429, timeouts, dropped connections) are retried with backoff; a call that
still fails puts the venue in an outage (`outage.py`): no new orders, single probing attempts,
the work retried at the next cycle, until it answers again.
Amounts and prices from ccxt arrive as floats; `_dec` turns them back into the decimal text the
exchange sent (`repr` of a float is the shortest text that reads back to it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

import ccxt

from tradeexecutor.execution.outage import VenueHealth, describe
from tradeexecutor.execution.reconciliation import ExchangeAccount, reconcile
from tradeexecutor.execution.retry import TRANSIENT, RetryPolicy, retry_after_header
from tradeexecutor.execution.venue import Record
from tradeexecutor.market.candles import Candle
from tradeexecutor.state.events import (
    Event,
    FillReceived,
    OrderCancelled,
    OrderExpired,
    OrderFailed,
    OrderRejected,
    OrderSubmitted,
)
from tradeexecutor.state.state import State
from tradeexecutor.state.trade import FINISHED, OrderType, Trade, TradeStatus


def _dec(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(value if isinstance(value, str) else repr(value))


T = TypeVar("T")


class UnknownMarket(ValueError):
    """The exchange has no market of the configured symbol."""


class CcxtVenue:
    def __init__(
        self,
        exchange: ccxt.Exchange,
        symbol: str,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        unknown_after: int = 2,
        unknown_grace: float = 15.0,
        monotonic: Callable[[], float] | None = None,
        health: VenueHealth | None = None,
        start_up_retry: RetryPolicy | None = None,
    ) -> None:
        """`unknown_after` lookups by client order id that find nothing, spread over at least
        `unknown_grace` seconds of wall time, make a planned or failed trade "never sent". The
        grace must exceed how long the exchange may still accept a request in flight (Binance:
        its recvWindow, 10 s in ccxt), else an order accepted late would be missed."""
        self.exchange = exchange
        self.symbol = symbol
        self.retry = retry or RetryPolicy()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep or time.sleep
        self.name = exchange.id
        self.unknown_after = unknown_after
        self.unknown_grace = unknown_grace
        self.monotonic = monotonic or time.monotonic
        self.health = health or VenueHealth(exchange.id, self.clock, monotonic=self.monotonic)
        self._retry_after = retry_after_header(exchange)
        self._misses: dict[int, tuple[int, float]] = {}
        self._reconcile_due = False
        policy = start_up_retry or self.retry
        self.markets: dict[str, Any] = policy.call(exchange.load_markets, self.sleep, self._retry_after)
        if symbol not in self.markets:
            raise UnknownMarket(unknown_market_message(exchange.id, symbol, list(self.markets)))
        self.market: dict[str, Any] = self.markets[symbol]

    # --- helpers ---------------------------------------------------------------------------------

    def _read(self, operation: str, fn: Callable[[], T]) -> T:
        """`fn()` retried on transient errors; when it still fails the venue is in an outage.
        While `operation` is failing already, a single attempt probes whether it is back."""
        policy = self.retry.once() if self.health.is_failing(operation) else self.retry
        try:
            result = policy.call(fn, self.sleep, self._retry_after)
        except TRANSIENT as exc:
            self.health.failed(operation, exc)
            raise
        self.health.succeeded(operation)
        return result

    def _now(self) -> datetime:
        now = self.clock()
        return now.replace(microsecond=now.microsecond - now.microsecond % 1000)

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Round down to the market's amount step (what the exchange will accept)."""
        return Decimal(self._amount_text(quantity))

    def _amount_text(self, quantity: Decimal) -> str:
        step = self.market.get("precision", {}).get("amount")
        if step:
            step_d = _dec(step)
            quantity = (quantity / step_d).to_integral_value(rounding=ROUND_DOWN) * step_d
        return format(quantity.normalize(), "f")

    def _minimum_problem(self, quantity: Decimal, price: Decimal) -> str | None:
        limits = self.market.get("limits", {})
        min_amount = limits.get("amount", {}).get("min")
        if min_amount is not None and quantity < _dec(min_amount):
            return f"amount {quantity} is below the market's minimum {_dec(min_amount)} {self.market['base']}"
        min_cost = limits.get("cost", {}).get("min")
        if min_cost is not None and quantity * price < _dec(min_cost):
            return f"order value {quantity * price} is below the market's minimum {_dec(min_cost)} {self.market['quote']}"
        return None

    # --- the venue contract --------------------------------------------------------------------------

    def submit(self, state: State, trade: Trade, candle: Candle, record: Record) -> None:
        at = self._now()
        amount = Decimal(self._amount_text(trade.quantity))
        price = trade.limit_price if trade.limit_price is not None else candle.close
        problem = "the amount rounds to zero at the market's precision" if amount <= 0 else None
        problem = problem or self._minimum_problem(amount, price)
        if problem is None and self.health.down:
            since = self.health.since
            problem = (
                f"not sent: {self.name} has been unreachable since "
                f"{since:%Y-%m-%d %H:%M:%S} ({self.health.reason}); no new orders during an outage"
                if since is not None
                else f"not sent: {self.name} is unreachable; no new orders during an outage"
            )
        if problem:
            record([OrderRejected(at, trade.id, problem)])
            return
        order_type = "limit" if trade.order_type is OrderType.limit else "market"
        limit = float(trade.limit_price) if trade.limit_price is not None else None
        try:
            order = self.exchange.create_order(
                self.symbol, order_type, trade.side.value, float(amount), limit,
                {"newClientOrderId": trade.client_order_id},
            )  # fmt: skip
        except (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadSymbol) as exc:
            record([OrderRejected(self._now(), trade.id, describe(exc))])
            return
        except TRANSIENT as exc:
            # The order may or may not have reached the exchange: find out by client order id.
            self._resolve_unknown(state, trade, record, describe(exc))
            return
        except ccxt.ExchangeError as exc:
            if "Duplicate" in str(exc):  # it is there already: an earlier attempt reached it
                self._resolve_unknown(state, trade, record, describe(exc))
                return
            record([OrderRejected(self._now(), trade.id, describe(exc))])
            return
        self.health.succeeded("create_order")
        record([OrderSubmitted(self._now(), trade.id, str(order["id"]))])
        self.refresh(state, trade, record, order)

    def on_cycle(self, state: State, candle: Candle, record: Record) -> None:
        """Refresh every unfinished trade (and reconcile, if the last attempt could not)."""
        for trade in self._active(state):
            self.refresh(state, trade, record)
        if self._reconcile_due:  # the last reconciliation could not reach the exchange
            self.reconcile(state, record, self._now())

    def cancel(self, state: State, trade: Trade, candle: Candle, record: Record, reason: str) -> None:
        self._cancel(state, trade, record, reason)

    def recover(self, state: State, record: Record, at: datetime) -> None:
        """At start-up: settle every trade that was under way when the last process stopped."""
        for trade in self._active(state):
            self.refresh(state, trade, record)

    def adopt_open_orders(self, state: State) -> None:
        """Nothing to adopt: every cycle asks the exchange about each unfinished trade."""

    # --- order state ---------------------------------------------------------------------------------

    def _active(self, state: State) -> list[Trade]:
        return sorted(
            (t for t in state.portfolio.trades.values() if t.status not in FINISHED),
            key=lambda t: t.id,
        )

    def find_order(self, trade: Trade) -> dict[str, Any] | None:
        """The exchange's view of the trade's order, by order id or client order id; None if unknown."""
        params = {} if trade.exchange_order_id else {"origClientOrderId": trade.client_order_id}
        try:
            order: dict[str, Any] = self._read(
                "fetch_order", lambda: self.exchange.fetch_order(trade.exchange_order_id, self.symbol, params)
            )
        except ccxt.OrderNotFound:
            self.health.succeeded("fetch_order")  # the exchange answered
            return None
        return order

    def _resolve_unknown(self, state: State, trade: Trade, record: Record, error: str) -> None:
        try:
            order = self.find_order(trade)
        except TRANSIENT:
            order = None
            record([OrderFailed(self._now(), trade.id, f"fate unknown after {error}; will look it up by client order id")])
            return
        if order is None:
            record([OrderFailed(self._now(), trade.id, f"not on the exchange after {error}; will look again")])
            return
        record([OrderSubmitted(self._now(), trade.id, str(order["id"]))])
        self.refresh(state, trade, record, order)

    def refresh(self, state: State, trade: Trade, record: Record, order: dict[str, Any] | None = None) -> bool:
        """Record what the exchange says happened to the trade since we last looked; False when
        the exchange could not be reached (an outage is noted; the next cycle looks again)."""
        try:
            self._refresh(state, trade, record, order)
        except TRANSIENT:
            return False
        return True

    def _refresh(self, state: State, trade: Trade, record: Record, order: dict[str, Any] | None) -> None:
        if order is None:
            order = self.find_order(trade)
        if order is None:
            count, first_miss = self._misses.get(trade.id, (0, self.monotonic()))
            count += 1
            self._misses[trade.id] = (count, first_miss)
            waited = self.monotonic() - first_miss
            unsent = trade.status in (TradeStatus.planned, TradeStatus.failed)
            if unsent and count >= self.unknown_after and waited >= self.unknown_grace:
                self._misses.pop(trade.id, None)
                record([OrderCancelled(self._now(), trade.id, "never reached the exchange (unknown by client order id)")])
            return
        self._misses.pop(trade.id, None)
        if trade.status in (TradeStatus.planned, TradeStatus.failed):
            record([OrderSubmitted(self._now(), trade.id, str(order["id"]))])
        self._record_fills(trade, order, record)
        status = order.get("status")
        if trade.is_finished:
            return
        if status == "canceled":
            record([OrderCancelled(self._now(), trade.id, "cancelled on the exchange")])
        elif status == "expired":
            record([OrderExpired(self._now(), trade.id, "expired on the exchange")])
        elif status == "rejected":
            record([OrderRejected(self._now(), trade.id, "rejected by the exchange")])
        elif status == "closed" and trade.filled_quantity:
            # The exchange filled less than we planned (its amount step): the rest will never fill.
            record([OrderCancelled(self._now(), trade.id, f"exchange closed the order at {trade.filled_quantity}")])
        elif status == "open" and trade.expires_at is not None and self._now() >= trade.expires_at:
            self._cancel(state, trade, record, "limit order timed out")

    def _record_fills(self, trade: Trade, order: dict[str, Any], record: Record) -> None:
        filled = _dec(order.get("filled"))
        if filled <= trade.filled_quantity:
            return
        trades = self._read(
            "fetch_my_trades", lambda: self.exchange.fetch_my_trades(self.symbol, params={"orderId": order["id"]})
        )
        known = {fill.exchange_trade_id for fill in trade.fills}
        events: list[Event] = []
        remaining = trade.remaining_quantity
        for fill in sorted(trades, key=lambda f: (f.get("timestamp") or 0, str(f.get("id")))):
            fill_id = str(fill["id"])
            if fill_id in known:
                continue
            quantity = _dec(fill["amount"])
            if quantity > remaining:
                raise RuntimeError(
                    f"exchange reports fill {fill_id} of {quantity} for trade {trade.id}, "
                    f"more than the {remaining} left; refusing to record it"
                )
            remaining -= quantity
            fee = fill.get("fee") or {}
            at = datetime.fromtimestamp(fill["timestamp"] / 1000, UTC) if fill.get("timestamp") else self._now()
            events.append(
                FillReceived(
                    at, trade.id, quantity, _dec(fill["price"]), _dec(fee.get("cost")),
                    fee.get("currency") or self.market["quote"], fill_id,
                )
            )  # fmt: skip
        if events:
            record(events)

    def _cancel(self, state: State, trade: Trade, record: Record, reason: str) -> None:
        if trade.exchange_order_id is None:
            record([OrderCancelled(self._now(), trade.id, reason)])
            return
        try:
            self._read("cancel_order", lambda: self.exchange.cancel_order(trade.exchange_order_id, self.symbol))
        except ccxt.OrderNotFound:
            self.health.succeeded("cancel_order")  # filled or gone meanwhile: the lookup below tells which
        except TRANSIENT:
            return  # try again next cycle
        try:
            order = self.find_order(trade)
            if order is not None:
                self._record_fills(trade, order, record)
        except TRANSIENT:
            return  # cancelled, but what filled before is not known yet: the next cycle looks again
        if not trade.is_finished:
            record([OrderCancelled(self._now(), trade.id, reason)])

    # --- reconciliation ---------------------------------------------------------------------------------

    def account(self) -> ExchangeAccount:
        balance: dict[str, Any] = self._read("fetch_balance", self.exchange.fetch_balance)
        totals = {asset: _dec(amount) for asset, amount in (balance.get("total") or {}).items() if amount is not None}
        orders: list[dict[str, Any]] = self._read(
            "fetch_open_orders", lambda: self.exchange.fetch_open_orders(self.symbol)
        )
        return ExchangeAccount(totals, orders)

    def reconcile(self, state: State, record: Record, at: datetime) -> list[str]:
        """Reconcile now; if the exchange cannot be reached, again at the next cycle."""
        try:
            differences = reconcile(state, self, record, self._now())
        except TRANSIENT:
            self._reconcile_due = True
            return []
        self._reconcile_due = False
        return differences


def unknown_market_message(exchange_id: str, symbol: str, markets: list[str]) -> str:
    """`--pair X` the exchange does not list, with the closest symbols it does."""
    import difflib

    wanted = symbol.upper()
    by_upper = {m.upper(): m for m in markets}
    if wanted in by_upper:  # only the case differs
        close = [by_upper[wanted]]
    else:
        close = [by_upper[m] for m in difflib.get_close_matches(wanted, list(by_upper), n=5, cutoff=0.6)]
        base = wanted.split("/")[0]
        close += [m for m in sorted(markets) if m.upper().startswith(base + "/") and m not in close]
    hint = f"; close matches: {', '.join(close[:5])}" if close else f"; it lists {len(markets)} markets"
    return f"exchange {exchange_id} has no market {symbol}{hint} (give --pair one of them)"
