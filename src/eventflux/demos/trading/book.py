"""The matching core: one symbol's limit order book, in memory, with no I/O.

Prices are integer price units (cents) and quantities integer shares. Orders
match by price-time priority: the best price first, and at one price the
order that arrived first. Every change is returned as events
(:mod:`.events`), and :meth:`OrderBook.apply` replays those events into an
empty book: replaying the stream of a book yields the identical book.

The book does the matching and applies its own decisions in one pass (that is
what makes it fast); :meth:`apply` (:mod:`.replay`) is the second way to the
same state, used to rebuild a book from its stream. Tests hold both ways to
the same result. The sides, their reading and the resting and removing of an
order are in :mod:`.sides`; a resting order and a price level in :mod:`.levels`.

What it supports: limit and market orders; time in force GTC, IOC and FOK;
post-only orders (refused if they would trade); partial fills; cancel by
order id in O(1); amend (a lower quantity at the same price keeps the order's
place, anything else sends it to the back of its new level and may trade at
once, so an amend never leaves the book crossed; a post-only order's amend
that would trade is refused); self-trade prevention (``expire_taker``,
``expire_maker``, ``expire_both``, ``decrement``: the incoming order's mode
applies when it meets a resting order of the same account); tick and lot
size validation.

Example::

    book = OrderBook("ACME", tick_size=5, lot_size=10)
    book.submit("ann", "sell", 100, 10_000)          # rests
    events = book.submit("bob", "buy", 30, 10_005)   # trades 30 at 10,000
    assert book.best_ask() == (10_000, 70)
    copy = OrderBook("ACME", tick_size=5, lot_size=10)
    for e in all_events: copy.apply(e)               # the same book again
"""

from __future__ import annotations

from bisect import insort
from typing import Final

from .events import (
    BookOpened,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderReduced,
    OrderRejected,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from .levels import Level, RestingOrder
from .orders import (
    BUY,
    DECREMENT,
    EXPIRE_BOTH,
    EXPIRE_MAKER,
    EXPIRE_TAKER,
    FOK,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STP_MODES,
    OrderError,
    TradingHaltedError,
    UnknownOrderError,
)
from .replay import BookReplay, Event

__all__ = ["Level", "OrderBook", "RestingOrder"]

_SIDES: Final = frozenset((BUY, SELL))
_LIMIT_TIF: Final = frozenset((GTC, IOC, FOK))
_STP: Final = frozenset(STP_MODES)


class OrderBook(BookReplay):
    """One symbol's order book; see the module docs."""

    @classmethod
    def opened(cls, event: BookOpened) -> OrderBook:
        """An empty book with the sizes of its ``BookOpened`` event."""
        book = cls(event.symbol, tick_size=event.tick_size, lot_size=event.lot_size)
        book.last_price = event.reference_price
        return book

    # -- orders ------------------------------------------------------------------------
    def refusal(
        self,
        side: str,
        kind: str,
        price: int | None,
        quantity: int,
        tif: str,
        post_only: bool,
        stp: str,
    ) -> str | None:
        """Why the book would refuse this order, or None if it accepts it."""
        if side != BUY and side != SELL:
            return f"side must be 'buy' or 'sell', not {side!r}"
        if type(quantity) is not int or quantity <= 0:
            return f"quantity must be a positive whole number of shares, not {quantity!r}"
        if quantity % self.lot_size:
            return f"quantity {quantity} is not a multiple of the lot size {self.lot_size}"
        if quantity > self.max_quantity:
            return f"quantity {quantity} is over the book's limit of {self.max_quantity}"
        if kind == LIMIT:
            if type(price) is not int or price <= 0:
                return f"a limit order needs a positive integer price, not {price!r}"
            if price % self.tick_size:
                return f"price {price} is not a multiple of the tick size {self.tick_size}"
            if tif != GTC and tif != IOC and tif != FOK:
                return f"time in force must be gtc, ioc or fok, not {tif!r}"
        elif kind == MARKET:
            if price is not None:
                return "a market order has no price"
            if tif != IOC and tif != FOK:
                return "a market order is immediate-or-cancel or fill-or-kill"
        else:
            return f"order kind must be 'limit' or 'market', not {kind!r}"
        if post_only:
            if kind != LIMIT or tif != GTC:
                return "only a good-till-cancelled limit order can be post-only"
            if self._crosses(side, price):
                return "post-only order would trade on arrival"
        if stp not in STP_MODES:
            return f"self-trade prevention must be one of {', '.join(STP_MODES)}, not {stp!r}"
        if self.halted:
            return f"trading in {self.symbol} is halted"
        return None

    def _crosses(self, side: str, price: int | None) -> bool:
        if side == BUY:
            keys = self._ask_keys
            return bool(keys) and (price is None or price >= -keys[-1])
        keys = self._bid_keys
        return bool(keys) and (price is None or price <= keys[-1])

    def submit(
        self,
        account: str,
        side: str,
        quantity: int,
        price: int | None = None,
        *,
        kind: str | None = None,
        tif: str = GTC,
        post_only: bool = False,
        stp: str = EXPIRE_TAKER,
        client_order_id: str = "",
    ) -> list[Event]:
        """Take a new order; return what happened (``OrderRejected``, or
        ``OrderAccepted`` and its fills, cancels and reductions).

        ``kind`` defaults to ``"limit"`` with a price, ``"market"`` without.
        A market order defaults to IOC (``tif="gtc"`` is read as IOC for it).
        """
        if kind is None:
            kind = MARKET if price is None else LIMIT
        elif kind == MARKET and tif == GTC:
            tif = IOC
        if not (  # the common case, checked inline; refusal() says what is wrong
            kind == LIMIT
            and type(price) is int
            and price > 0
            and not price % self.tick_size
            and type(quantity) is int
            and 0 < quantity <= self.max_quantity
            and not quantity % self.lot_size
            and side in _SIDES
            and tif in _LIMIT_TIF
            and stp in _STP
            and not post_only
            and not self.halted
        ):
            if kind == MARKET and tif == GTC:
                tif = IOC
            why = self.refusal(side, kind, price, quantity, tif, post_only, stp)
            if why is not None:
                return [OrderRejected(client_order_id, account, side, kind, price, quantity, why)]
        self.sequence = sequence = self.sequence + 1
        order_id = f"{self.symbol}-{sequence}"
        events: list[Event] = [
            OrderAccepted(
                order_id, sequence, client_order_id, account, side, kind, price, quantity, tif,
                post_only, stp,
            )
        ]  # fmt: skip
        order = RestingOrder(
            order_id, sequence, account, side, price, quantity, stp, post_only, client_order_id
        )
        if tif == FOK and not self._fillable(order):
            events.append(OrderCancelled(order_id, account, quantity, "fok"))
            return events
        if side == BUY:
            keys = self._ask_keys
            crosses = keys and (price is None or price >= -keys[-1])
        else:
            keys = self._bid_keys
            crosses = keys and (price is None or price <= keys[-1])
        if crosses:
            self._match(order, events)
            quantity = order.quantity
            if not quantity:
                return events
        if tif != GTC or price is None:
            events.append(OrderCancelled(order_id, account, quantity, "ioc"))
            return events
        # rest at the back of its level (what _rest does, inline: the hot path)
        if side == BUY:
            levels, keys, key = self.bids, self._bid_keys, price
        else:
            levels, keys, key = self.asks, self._ask_keys, -price
        level = levels.get(price)
        if level is None:
            level = levels[price] = Level()
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(order)
        level.live += 1
        level.quantity += quantity
        self.orders[order_id] = order
        return events

    def cancel(self, order_id: str, account: str | None = None) -> list[Event]:
        """Cancel an open order (of ``account``, when given) in O(1)."""
        order = self._own(order_id, account)
        return [OrderCancelled(order_id, order.account, self._remove(order), "cancelled")]

    def amend(
        self,
        order_id: str,
        account: str | None = None,
        *,
        quantity: int | None = None,
        price: int | None = None,
    ) -> list[Event]:
        """Change an open order's open ``quantity`` and/or ``price``.

        A lower quantity at the same price keeps the order's place in its
        level; a higher one or a new price sends it to the back of its level,
        and a new price that crosses the book trades at once (refused for a
        post-only order). Raises :class:`OrderError` with the reason otherwise.
        """
        order = self._own(order_id, account)
        if self.halted:
            raise TradingHaltedError(f"trading in {self.symbol} is halted: amends are refused")
        new_price = order.price if price is None else price
        new_quantity = order.quantity if quantity is None else quantity
        assert new_price is not None
        why = self.refusal(order.side, LIMIT, new_price, new_quantity, GTC, False, order.stp)
        if why is not None:
            raise OrderError(why)
        if new_price == order.price and new_quantity == order.quantity:
            raise OrderError(f"order {order_id} already has price {new_price} and quantity "
                             f"{new_quantity}: nothing to amend")  # fmt: skip
        if new_price == order.price and new_quantity < order.quantity:
            level = (self.bids if order.side == BUY else self.asks)[new_price]
            level.quantity -= order.quantity - new_quantity
            order.quantity = new_quantity
            return [OrderAmended(order_id, order.account, new_price, new_quantity, True)]
        if order.post_only and self._crosses(order.side, new_price):
            raise OrderError(f"amending post-only order {order_id} to {new_price} would trade")
        self._remove(order)
        moved = RestingOrder(
            order_id, order.sequence, order.account, order.side, new_price, new_quantity,
            order.stp, order.post_only, order.client_order_id,
        )  # fmt: skip
        events: list[Event] = [
            OrderAmended(order_id, order.account, new_price, new_quantity, False)
        ]
        if self._crosses(moved.side, new_price):
            self._match(moved, events)
        if moved.quantity:
            self._rest(moved)
        return events

    def halt(
        self, reason: str, reference_price: int, price: int, move_bps: int, cooldown: float
    ) -> TradingHalted:
        """Halt the symbol (new orders and amends are refused; cancels still work)."""
        self.halted = True
        return TradingHalted(self.symbol, reason, reference_price, price, move_bps, cooldown)

    def resume(self, reason: str) -> TradingResumed:
        """End a halt."""
        self.halted = False
        return TradingResumed(self.symbol, reason)

    # -- matching ---------------------------------------------------------------------
    def _own(self, order_id: str, account: str | None) -> RestingOrder:
        order = self.orders.get(order_id)
        if order is None or (account is not None and order.account != account):
            owner = "" if account is None else f" of account {account!r}"
            raise UnknownOrderError(
                f"no open order {order_id!r}{owner} in {self.symbol}: it was filled, "
                "cancelled, or never existed"
            )
        return order

    def _fillable(self, taker: RestingOrder) -> bool:
        """Whether a fill-or-kill order fills whole by trading (self-trade
        prevention that would expire or decrement it counts against it)."""
        needed = taker.quantity
        limit, account = taker.price, taker.account
        skip_own = taker.stp == EXPIRE_MAKER
        for price, orders in self.level_orders(SELL if taker.side == BUY else BUY):
            if limit is not None and (price > limit if taker.side == BUY else price < limit):
                return False
            for maker in orders:
                if maker.account == account:
                    if skip_own:
                        continue
                    return False
                needed -= maker.quantity
                if needed <= 0:
                    return True
        return False

    def _match(self, taker: RestingOrder, events: list[Event]) -> None:
        """Trade ``taker`` against the other side as far as its price allows."""
        q = taker.quantity
        side, limit, account = taker.side, taker.price, taker.account
        taker_id = taker.order_id
        if side == BUY:
            levels, keys, sign = self.asks, self._ask_keys, -1
        else:
            levels, keys, sign = self.bids, self._bid_keys, 1
        orders = self.orders
        trade = self.trade_sequence
        append = events.append
        last = None
        while q and keys:
            price = sign * keys[-1]
            if limit is not None and (price > limit if sign == -1 else price < limit):
                break
            level = levels[price]
            queue = level.orders
            while queue:
                maker = queue[0]
                mq = maker.quantity
                if not mq:
                    queue.popleft()
                    continue
                if maker.account == account:
                    mode = taker.stp
                    if mode in (EXPIRE_MAKER, EXPIRE_BOTH):
                        append(OrderCancelled(maker.order_id, account, mq, "self-trade"))
                        queue.popleft()
                        maker.quantity = 0
                        level.live -= 1
                        level.quantity -= mq
                        del orders[maker.order_id]
                        if mode == EXPIRE_MAKER:
                            continue
                    if mode != DECREMENT:  # expire_taker, expire_both
                        append(OrderCancelled(taker_id, account, q, "self-trade"))
                        q = 0
                        break
                    d = q if q < mq else mq
                    append(OrderReduced(maker.order_id, account, d, "self-trade"))
                    append(OrderReduced(taker_id, account, d, "self-trade"))
                    level.quantity -= d
                    q -= d
                    if d == mq:
                        queue.popleft()
                        maker.quantity = 0
                        level.live -= 1
                        del orders[maker.order_id]
                    else:
                        maker.quantity = mq - d
                    if not q:
                        break
                    continue
                take = q if q < mq else mq
                trade += 1
                append(
                    TradeExecuted(
                        trade, taker_id, maker.order_id, account, maker.account, side, price, take
                    )
                )
                last = price
                q -= take
                level.quantity -= take
                if take == mq:
                    queue.popleft()
                    maker.quantity = 0
                    level.live -= 1
                    del orders[maker.order_id]
                else:
                    maker.quantity = mq - take
                if not q:
                    break
            if not level.live:
                del levels[price]
                keys.pop()
        taker.quantity = q
        self.trade_sequence = trade
        if last is not None:
            self.last_price = last
