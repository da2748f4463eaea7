"""Accounts, orders and the matching engine of the fake exchange.

Why: the executor must be tested against an exchange that keeps real books of
balances and orders, refuses what Binance refuses, and fills orders the way
Binance reports them, with every amount an exact ``Decimal``.

Fill model:

* Market orders (and the marketable part of limit orders) take liquidity from the
  synthetic book (:mod:`.book`) at the level prices, as a taker. When the book runs
  out, a market order ends ``EXPIRED`` with what was filled (a partial fill).
* Limit orders that do not cross the book rest. On each :meth:`MatchingEngine.advance`
  a resting buy fills at its limit price when the new candle's low reaches the
  limit (sell: high), as a maker. At most ``max_fill_fraction`` of the candle's
  volume is filled per side per candle, so a large order can fill over several
  candles (``PARTIALLY_FILLED``).

Fee convention (Binance's default, no BNB discount): the fee is charged in the
asset received. A buy of ``q`` base at price ``p`` debits ``q*p`` quote and credits
``q - q*fee`` base (``commissionAsset`` = base); a sell debits ``q`` base and credits
``q*p - q*p*fee`` quote (``commissionAsset`` = quote). The fee rate is
``taker_fee`` for taker fills and ``maker_fee`` for maker fills. Commissions are
not rounded, so balances are exact products of the numbers involved.

Client order ids: by default an id ever used by the account is refused with
``-2010 Duplicate order sent.``; real Binance only refuses ids of *open* orders
(``reject_reused_client_order_ids=False`` gives that behaviour).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Literal

from .book import BookConfig, BookLevel, MarketSpec, SyntheticBook
from .candles import Candle, infer_interval_ms, to_candles
from .decimals import CTX, floor_to, is_multiple

__all__ = [
    "Account",
    "Balance",
    "BinanceError",
    "Fill",
    "MarketState",
    "MatchingEngine",
    "Order",
]

Side = Literal["BUY", "SELL"]
_ZERO = Decimal(0)
_OPEN = ("NEW", "PARTIALLY_FILLED")
_CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


class BinanceError(Exception):
    """An error Binance answers with ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def body(self) -> dict[str, object]:
        """JSON body exactly as Binance sends it."""
        return {"code": self.code, "msg": self.msg}


def _insufficient() -> BinanceError:
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def _mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def _not_required(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


@dataclass(slots=True)
class Fill:
    """One execution of an order (a row of /api/v3/myTrades)."""

    trade_id: int
    order_id: int
    market_id: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass(slots=True)
class Order:
    """An order as the exchange tracks it; ``locked`` is what it still reserves."""

    order_id: int
    client_order_id: str
    api_key: str
    market_id: str
    side: Side
    type: str
    time_in_force: str
    price: Decimal | None
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = _ZERO
    cumm_quote_qty: Decimal = _ZERO
    locked: Decimal = _ZERO
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """NEW or PARTIALLY_FILLED: can still fill or be canceled."""
        return self.status in _OPEN

    @property
    def remaining(self) -> Decimal:
        """Quantity not yet executed."""
        return self.orig_qty - self.executed_qty


@dataclass(slots=True)
class Balance:
    """Free and locked (reserved by open orders) amounts of one asset."""

    free: Decimal = _ZERO
    locked: Decimal = _ZERO


@dataclass(slots=True)
class Account:
    """One API key's balances, orders and trades."""

    api_key: str
    secret: str
    balances: dict[str, Balance] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    trades: list[Fill] = field(default_factory=list)
    by_client_id: dict[str, int] = field(default_factory=dict)
    update_time: int = 0

    def balance(self, asset: str) -> Balance:
        """Balance of ``asset``, created empty on first use."""
        return self.balances.setdefault(asset, Balance())


@dataclass(slots=True)
class MarketState:
    """A market, its candles, the current candle index and its synthetic book."""

    spec: MarketSpec
    candles: list[Candle]
    interval_ms: int
    index: int = 0
    book: SyntheticBook = field(default_factory=SyntheticBook)

    @property
    def candle(self) -> Candle:
        """The current candle."""
        return self.candles[self.index]

    @property
    def visible_candles(self) -> list[Candle]:
        """Candles up to and including the current one (no peeking into the future)."""
        return self.candles[: self.index + 1]


def _wall_clock_ms() -> int:
    return int(time.time() * 1000)


class MatchingEngine:
    """All exchange state, guarded by one re-entrant lock (``self.lock``)."""

    def __init__(
        self,
        markets: Sequence[tuple[MarketSpec, Sequence[Candle]]],
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
            tif = self._check_shape(order_type, time_in_force, price, quantity, quote_order_qty)
            if client_order_id is not None and not _CLIENT_ID_RE.match(client_order_id):
                raise BinanceError(
                    -1100,
                    "Illegal characters found in parameter 'newClientOrderId'; "
                    "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
                )
            self._check_filters(state, order_type, price, quantity, quote_order_qty)
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

    @staticmethod
    def _check_shape(
        order_type: str,
        tif: str | None,
        price: Decimal | None,
        quantity: Decimal | None,
        quote_order_qty: Decimal | None,
    ) -> str:
        if order_type == "LIMIT":
            if tif is None:
                raise _mandatory("timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        elif order_type == "LIMIT_MAKER":
            tif = "GTC"
        elif order_type == "MARKET":
            if price is not None:
                raise _not_required("price")
            if quantity is None and quote_order_qty is None:
                raise BinanceError(
                    -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                )
            if quantity is not None and quote_order_qty is not None:
                raise _not_required("quoteOrderQty")
            return "GTC"
        else:
            raise BinanceError(-1116, "Invalid orderType.")
        if price is None:
            raise _mandatory("price")
        if quantity is None:
            raise _mandatory("quantity")
        if quote_order_qty is not None:
            raise _not_required("quoteOrderQty")
        return tif

    @staticmethod
    def _check_filters(
        state: MarketState,
        order_type: str,
        price: Decimal | None,
        quantity: Decimal | None,
        quote_order_qty: Decimal | None,
    ) -> None:
        spec = state.spec
        if price is not None:
            if price <= 0:
                raise BinanceError(-1013, "Invalid price.")
            if (
                price < spec.min_price
                or price > spec.max_price
                or not is_multiple(price - spec.min_price, spec.tick_size)
            ):
                raise BinanceError(-1013, "Filter failure: PRICE_FILTER")
        if quantity is not None:
            if quantity <= 0:
                raise BinanceError(-1013, "Invalid quantity.")
            if (
                quantity < spec.min_qty
                or quantity > spec.max_qty
                or not is_multiple(quantity - spec.min_qty, spec.step_size)
            ):
                raise BinanceError(-1013, "Filter failure: LOT_SIZE")
        if quote_order_qty is not None and quote_order_qty <= 0:
            raise BinanceError(-1013, "Invalid quoteOrderQty.")
        if quote_order_qty is not None:
            notional = quote_order_qty
        elif price is not None and quantity is not None:
            notional = price * quantity
        else:
            assert quantity is not None
            notional = quantity * state.candle.close
        if notional < spec.min_notional:
            raise BinanceError(-1013, "Filter failure: NOTIONAL")
        if order_type != "MARKET" and notional > spec.max_notional:
            raise BinanceError(-1013, "Filter failure: NOTIONAL")

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

    def _plan_taker(
        self,
        state: MarketState,
        side: Side,
        qty_limit: Decimal | None,
        quote_limit: Decimal | None,
        price_limit: Decimal | None,
    ) -> tuple[list[tuple[BookLevel, Decimal]], bool]:
        """Walk the book without changing it; returns (level, qty) pairs and whether it ran dry."""
        step = state.spec.step_size
        plan: list[tuple[BookLevel, Decimal]] = []
        qty_left = qty_limit
        quote_left = quote_limit
        for level in state.book.opposite(side):
            if level.remaining <= 0:
                continue
            if price_limit is not None and (
                (side == "BUY" and level.price > price_limit)
                or (side == "SELL" and level.price < price_limit)
            ):
                return plan, False
            if qty_left is not None:
                take = min(qty_left, level.remaining)
            else:
                assert quote_left is not None
                take = min(level.remaining, floor_to(quote_left / level.price, step))
            if take <= 0:
                return plan, False
            plan.append((level, take))
            if qty_left is not None:
                qty_left -= take
                if qty_left == 0:
                    return plan, False
            else:
                assert quote_left is not None
                quote_left -= take * level.price
        return plan, True

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
        plan, ran_dry = self._plan_taker(state, side, quantity, quote_order_qty, None)
        if side == "BUY":
            needed, asset = sum((lvl.price * q for lvl, q in plan), _ZERO), spec.quote
        else:
            needed, asset = sum((q for _, q in plan), _ZERO), spec.base
        if account.balance(asset).free < needed:
            raise _insufficient()
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
        plan, _ = self._plan_taker(state, side, quantity, None, price)
        if order_type == "LIMIT_MAKER" and plan:
            raise BinanceError(-2010, "Order would immediately match and take.")
        asset, reserve = (spec.quote, price * quantity) if side == "BUY" else (spec.base, quantity)
        bal = account.balance(asset)
        if bal.free < reserve:
            raise _insufficient()
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
        """Move balances for one execution; see the module docstring for the fee rule."""
        spec = state.spec
        now = self.clock()
        quote_qty = price * qty
        rate = self.maker_fee if is_maker else self.taker_fee
        base = account.balance(spec.base)
        quote = account.balance(spec.quote)
        if order.side == "BUY":
            commission, commission_asset = qty * rate, spec.base
            if order.type == "MARKET":
                quote.free -= quote_qty
            else:
                assert order.price is not None
                reserved = qty * order.price
                order.locked -= reserved
                quote.locked -= reserved
                quote.free += reserved - quote_qty
            base.free += qty - commission
        else:
            commission, commission_asset = quote_qty * rate, spec.quote
            if order.type == "MARKET":
                base.free -= qty
            else:
                order.locked -= qty
                base.locked -= qty
            quote.free += quote_qty - commission
        fill = Fill(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            market_id=spec.market_id,
            price=price,
            qty=qty,
            quote_qty=quote_qty,
            commission=commission,
            commission_asset=commission_asset,
            time=now,
            is_buyer=order.side == "BUY",
            is_maker=is_maker,
        )
        self._next_trade_id += 1
        order.executed_qty += qty
        order.cumm_quote_qty += quote_qty
        order.update_time = now
        order.fills.append(fill)
        account.trades.append(fill)
        account.update_time = now
        return fill

    def _release(self, account: Account, state: MarketState, order: Order) -> None:
        """Give back whatever the order still reserves."""
        if order.locked == 0:
            return
        asset = state.spec.quote if order.side == "BUY" else state.spec.base
        bal = account.balance(asset)
        bal.locked -= order.locked
        bal.free += order.locked
        order.locked = _ZERO

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
