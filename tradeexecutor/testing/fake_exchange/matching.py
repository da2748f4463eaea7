"""The matching engine of the fake exchange: orders against the synthetic book and the candles.

Why: the executor must be tested against an exchange that fills orders the way Binance reports
them, with every amount an exact ``Decimal``. Balances and their movements are in
:mod:`.accounts`, what is refused before an order is accepted in :mod:`.order_rules`.

Fill model:

* Market orders (and the marketable part of limit orders) take liquidity from the
  synthetic book (:mod:`.book`) at the level prices, as a taker. When the book runs
  out, a market order ends ``EXPIRED`` with what was filled (a partial fill).
* Limit orders that do not cross the book rest. On each :meth:`MatchingEngine.advance`
  a resting buy fills at its limit price when the new candle's low reaches the
  limit (sell: high), as a maker. At most ``max_fill_fraction`` of the candle's
  volume is filled per side per candle, so a large order can fill over several
  candles (``PARTIALLY_FILLED``).

The fee rate is ``taker_fee`` for taker fills and ``maker_fee`` for maker fills.

Client order ids: by default an id ever used by the account is refused with
``-2010 Duplicate order sent.``; real Binance only refuses ids of *open* orders
(``reject_reused_client_order_ids=False`` gives that behaviour).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, localcontext

from .accounts import Account, Balance, Fill, Order, Side, book_fill, release
from .book import BookConfig, BookLevel, MarketSpec
from .candles import CandleLike, infer_interval_ms, to_candles
from .decimals import CTX, floor_to
from .errors import BinanceError, insufficient
from .markets import MarketState
from .order_rules import check_client_order_id, check_filters, check_shape

__all__ = ["MatchingEngine"]

_ZERO = Decimal(0)


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MatchingEngine:
    """All exchange state, guarded by one re-entrant lock (``self.lock``)."""

    def __init__(
        self,
        markets: Sequence[tuple[MarketSpec, Sequence[CandleLike]]],
        *,
        maker_fee: Decimal = Decimal("0.001"),
        taker_fee: Decimal = Decimal("0.001"),
        book: BookConfig | None = None,
        max_fill_fraction: Decimal = Decimal(1),
        fill_on_touch: bool = True,
        reject_reused_client_order_ids: bool = True,
        clock: Callable[[], int] | None = None,
    ) -> None:
        if not markets:
            raise ValueError("at least one market is required")
        if max_fill_fraction <= 0:
            raise ValueError("max_fill_fraction must be positive")
        self.lock = threading.RLock()
        self.maker_fee = Decimal(maker_fee)
        self.taker_fee = Decimal(taker_fee)
        self.book_config = book or BookConfig()
        self.max_fill_fraction = Decimal(max_fill_fraction)
        self.fill_on_touch = fill_on_touch
        self.reject_reused_client_order_ids = reject_reused_client_order_ids
        self.clock: Callable[[], int] = clock or _wall_clock_ms
        self._markets: dict[str, MarketState] = {}
        for spec, candles in markets:
            series = to_candles(candles)
            if spec.market_id in self._markets:
                raise ValueError(f"duplicate market {spec.symbol}")
            state = MarketState(spec, series, infer_interval_ms(series))
            self._rebuild_book(state)
            self._markets[spec.market_id] = state
        self._accounts: dict[str, Account] = {}
        self._next_order_id = 1
        self._next_trade_id = 1

    # ----------------------------------------------------------------- lookups

    def markets(self) -> list[MarketState]:
        """All markets in definition order."""
        return list(self._markets.values())

    def market(self, market_id: str) -> MarketState:
        """Market by Binance id; unknown ids are Binance's -1121."""
        state = self._markets.get(market_id)
        if state is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return state

    def market_by_symbol(self, symbol: str) -> MarketState:
        """Market by unified symbol (``BTC/USDT``) or Binance id."""
        return self.market(symbol.replace("/", "").upper())

    def accounts(self) -> list[Account]:
        """All accounts."""
        return list(self._accounts.values())

    def add_account(self, api_key: str, secret: str) -> Account:
        """Register an API key; an existing key keeps its state."""
        with self.lock:
            account = self._accounts.get(api_key)
            if account is None:
                account = Account(api_key, secret, update_time=self.clock())
                self._accounts[api_key] = account
            account.secret = secret
            return account

    def account(self, api_key: str) -> Account:
        """Account of a key; callers authenticate first, so unknown keys are a bug."""
        account = self._accounts.get(api_key)
        if account is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return account

    def secret_for(self, api_key: str) -> str | None:
        """Secret of a registered key (for signature checks), else None."""
        account = self._accounts.get(api_key)
        return None if account is None else account.secret

    # ---------------------------------------------------------------- balances

    def deposit(self, api_key: str, asset: str, amount: Decimal) -> Balance:
        """Add (or, if negative, remove) free balance."""
        with self.lock, localcontext(CTX):
            account = self.account(api_key)
            bal = account.balance(asset.upper())
            if bal.free + amount < 0:
                raise ValueError(f"free {asset} balance would become negative")
            bal.free += amount
            account.update_time = self.clock()
            return bal

    def set_balance(self, api_key: str, asset: str, free: Decimal) -> Balance:
        """Set the free balance outright (locked amounts are left alone)."""
        with self.lock:
            if free < 0:
                raise ValueError("balance must not be negative")
            account = self.account(api_key)
            bal = account.balance(asset.upper())
            bal.free = Decimal(free)
            account.update_time = self.clock()
            return bal

    # ------------------------------------------------------------------ prices

    def _rebuild_book(self, state: MarketState) -> None:
        candle = state.candle
        state.book.rebuild(state.spec, self.book_config, candle.close, candle.volume)

    def advance(self, n: int = 1) -> int:
        """Move every market to its next candle ``n`` times; returns steps taken.

        Markets whose data has ended stay on their last candle; when all have ended
        nothing moves.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        moved = 0
        with self.lock, localcontext(CTX):
            for _ in range(n):
                stepped = False
                for state in self._markets.values():
                    if state.index + 1 < len(state.candles):
                        state.index += 1
                        self._rebuild_book(state)
                        self._match_resting(state)
                        stepped = True
                if not stepped:
                    break
                moved += 1
        return moved

    def _match_resting(self, state: MarketState) -> None:
        candle = state.candle
        spec = state.spec
        budget = {
            "BUY": floor_to(candle.volume * self.max_fill_fraction, spec.step_size),
            "SELL": floor_to(candle.volume * self.max_fill_fraction, spec.step_size),
        }
        resting = [o for o in self._all_orders() if o.market_id == spec.market_id and o.is_open]
        buys = sorted((o for o in resting if o.side == "BUY"), key=lambda o: (-(o.price or 0), o.order_id))
        sells = sorted((o for o in resting if o.side == "SELL"), key=lambda o: (o.price or 0, o.order_id))
        for order in [*buys, *sells]:
            assert order.price is not None
            if order.side == "BUY":
                reached = candle.low < order.price or (self.fill_on_touch and candle.low == order.price)
            else:
                reached = candle.high > order.price or (self.fill_on_touch and candle.high == order.price)
            if not reached:
                continue
            qty = min(order.remaining, budget[order.side])
            if qty <= 0:
                continue
            budget[order.side] -= qty
            account = self._accounts[order.api_key]
            self._fill(account, state, order, order.price, qty, is_maker=True)
            order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
            if order.status == "FILLED":
                self._release(account, state, order)

    def _all_orders(self) -> Iterator[Order]:
        for account in self._accounts.values():
            yield from account.orders.values()

    # ------------------------------------------------------------------ orders

    def place_order(
        self,
        api_key: str,
        *,
        market_id: str,
        side: str,
        order_type: str,
        quantity: Decimal | None = None,
        quote_order_qty: Decimal | None = None,
        price: Decimal | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
        validate_only: bool = False,
    ) -> tuple[Order | None, list[Fill]]:
        """Validate like Binance, then execute; returns the order and its new fills.

        With ``validate_only`` (the /order/test endpoint) nothing is stored and the
        order is None.
        """
        with self.lock, localcontext(CTX):
            account = self.account(api_key)
            state = self.market(market_id)
            if side not in ("BUY", "SELL"):
                raise BinanceError(-1117, "Invalid side.")
            tif = check_shape(order_type, time_in_force, price, quantity, quote_order_qty)
            check_client_order_id(client_order_id)
            check_filters(state, order_type, price, quantity, quote_order_qty)
            if client_order_id is not None and self._is_duplicate(account, client_order_id):
                raise BinanceError(-2010, "Duplicate order sent.")
            if validate_only:
                return None, []
            cid = client_order_id or secrets.token_hex(11)
            typed_side: Side = "BUY" if side == "BUY" else "SELL"
            if order_type == "MARKET":
                return self._place_market(account, state, typed_side, cid, quantity, quote_order_qty)
            assert price is not None and quantity is not None
            return self._place_limit(account, state, typed_side, order_type, tif, cid, price, quantity)


    def _is_duplicate(self, account: Account, client_order_id: str) -> bool:
        order_id = account.by_client_id.get(client_order_id)
        if order_id is None:
            return False
        return self.reject_reused_client_order_ids or account.orders[order_id].is_open

    def _new_order(
        self,
        account: Account,
        state: MarketState,
        side: Side,
        order_type: str,
        tif: str,
        cid: str,
        price: Decimal | None,
        qty: Decimal,
        quote_qty: Decimal,
    ) -> Order:
        now = self.clock()
        order = Order(
            order_id=self._next_order_id,
            client_order_id=cid,
            api_key=account.api_key,
            market_id=state.spec.market_id,
            side=side,
            type=order_type,
            time_in_force=tif,
            price=price,
            orig_qty=qty,
            orig_quote_qty=quote_qty,
            time=now,
            update_time=now,
        )
        self._next_order_id += 1
        account.orders[order.order_id] = order
        account.by_client_id[cid] = order.order_id
        return order

    def _place_market(
        self,
        account: Account,
        state: MarketState,
        side: Side,
        cid: str,
        quantity: Decimal | None,
        quote_order_qty: Decimal | None,
    ) -> tuple[Order, list[Fill]]:
        spec = state.spec
        plan, ran_dry = state.book.plan_taker(state.spec.step_size, side, quantity, quote_order_qty, None)
        if side == "BUY":
            needed, asset = sum((lvl.price * q for lvl, q in plan), _ZERO), spec.quote
        else:
            needed, asset = sum((q for _, q in plan), _ZERO), spec.base
        if account.balance(asset).free < needed:
            raise insufficient()
        order = self._new_order(
            account, state, side, "MARKET", "GTC", cid, None, quantity or _ZERO, quote_order_qty or _ZERO
        )
        fills = [self._take(account, state, order, level, qty) for level, qty in plan]
        if quantity is None:
            order.orig_qty = order.executed_qty
        order.status = "FILLED" if order.executed_qty > 0 and not ran_dry else "EXPIRED"
        return order, fills

    def _place_limit(
        self,
        account: Account,
        state: MarketState,
        side: Side,
        order_type: str,
        tif: str,
        cid: str,
        price: Decimal,
        quantity: Decimal,
    ) -> tuple[Order, list[Fill]]:
        spec = state.spec
        plan, _ = state.book.plan_taker(state.spec.step_size, side, quantity, None, price)
        if order_type == "LIMIT_MAKER" and plan:
            raise BinanceError(-2010, "Order would immediately match and take.")
        asset, reserve = (spec.quote, price * quantity) if side == "BUY" else (spec.base, quantity)
        bal = account.balance(asset)
        if bal.free < reserve:
            raise insufficient()
        order = self._new_order(account, state, side, order_type, tif, cid, price, quantity, _ZERO)
        bal.free -= reserve
        bal.locked += reserve
        order.locked = reserve
        planned = sum((q for _, q in plan), _ZERO)
        if tif == "FOK" and planned < quantity:
            order.status = "EXPIRED"
            self._release(account, state, order)
            return order, []
        fills = [self._take(account, state, order, level, qty) for level, qty in plan]
        if order.remaining == 0:
            order.status = "FILLED"
        elif tif == "IOC":
            order.status = "EXPIRED"
        else:
            order.status = "PARTIALLY_FILLED" if order.executed_qty > 0 else "NEW"
        if not order.is_open:
            self._release(account, state, order)
        return order, fills

    def _take(
        self, account: Account, state: MarketState, order: Order, level: BookLevel, qty: Decimal
    ) -> Fill:
        state.book.take(level, qty)
        return self._fill(account, state, order, level.price, qty, is_maker=False)

    def _fill(
        self,
        account: Account,
        state: MarketState,
        order: Order,
        price: Decimal,
        qty: Decimal,
        *,
        is_maker: bool,
    ) -> Fill:
        rate = self.maker_fee if is_maker else self.taker_fee
        fill = book_fill(
            account, state.spec, order, price, qty, rate=rate, is_maker=is_maker, now=self.clock(),
            trade_id=self._next_trade_id,
        )  # fmt: skip
        self._next_trade_id += 1
        return fill

    def _release(self, account: Account, state: MarketState, order: Order) -> None:
        release(account, state.spec, order)

    def get_order(
        self, api_key: str, market_id: str, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order:
        """Find one order by id or client id (Binance's GET /api/v3/order)."""
        with self.lock:
            account = self.account(api_key)
            self.market(market_id)
            order = self._find(account, market_id, order_id, client_order_id)
            if order is None:
                raise BinanceError(-2013, "Order does not exist.")
            return order

    @staticmethod
    def _find(
        account: Account, market_id: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        if order_id is None and client_order_id is None:
            raise BinanceError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        if order_id is None:
            assert client_order_id is not None
            order_id = account.by_client_id.get(client_order_id)
        order = account.orders.get(order_id) if order_id is not None else None
        if order is None or order.market_id != market_id:
            return None
        return order

    def cancel_order(
        self, api_key: str, market_id: str, order_id: int | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel an open order and release its reservation; closed or unknown is -2011."""
        with self.lock, localcontext(CTX):
            account = self.account(api_key)
            state = self.market(market_id)
            order = self._find(account, market_id, order_id, client_order_id)
            if order is None or not order.is_open:
                raise BinanceError(-2011, "Unknown order sent.")
            order.status = "CANCELED"
            order.update_time = self.clock()
            self._release(account, state, order)
            return order

    def cancel_all(self, api_key: str, market_id: str) -> list[Order]:
        """Cancel every open order of a market (DELETE /api/v3/openOrders)."""
        with self.lock:
            open_ = self.open_orders(api_key, market_id)
            if not open_:
                raise BinanceError(-2011, "Unknown order sent.")
            return [self.cancel_order(api_key, market_id, o.order_id) for o in open_]

    def open_orders(self, api_key: str, market_id: str | None = None) -> list[Order]:
        """Open orders, oldest first, of one market or all."""
        with self.lock:
            account = self.account(api_key)
            if market_id is not None:
                self.market(market_id)
            return [
                o
                for o in account.orders.values()
                if o.is_open and (market_id is None or o.market_id == market_id)
            ]

    def all_orders(
        self,
        api_key: str,
        market_id: str,
        *,
        from_order_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
    ) -> list[Order]:
        """Orders of a market, oldest first (GET /api/v3/allOrders)."""
        with self.lock:
            account = self.account(api_key)
            self.market(market_id)
            rows = [
                o
                for o in account.orders.values()
                if o.market_id == market_id
                and (from_order_id is None or o.order_id >= from_order_id)
                and (start_time is None or o.time >= start_time)
                and (end_time is None or o.time <= end_time)
            ]
            from_start = from_order_id is not None or start_time is not None
            return rows[:limit] if from_start else rows[-limit:]

    def my_trades(
        self,
        api_key: str,
        market_id: str,
        *,
        order_id: int | None = None,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 500,
    ) -> list[Fill]:
        """The account's fills in a market, oldest first (GET /api/v3/myTrades)."""
        with self.lock:
            account = self.account(api_key)
            self.market(market_id)
            rows = [
                t
                for t in account.trades
                if t.market_id == market_id
                and (order_id is None or t.order_id == order_id)
                and (from_id is None or t.trade_id >= from_id)
                and (start_time is None or t.time >= start_time)
                and (end_time is None or t.time <= end_time)
            ]
            from_start = from_id is not None or start_time is not None
            return rows[:limit] if from_start else rows[-limit:]
