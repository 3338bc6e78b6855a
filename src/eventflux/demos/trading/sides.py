"""One symbol's book as data: its two sides by price level, and reading them.

:class:`BookSides` holds the book's state (the levels of each side, their
sorted price keys, the id index of open orders, the sequences, the halt flag
and the last price), what reading it tells (best prices, quote, depth,
snapshot, invariants, the cost to fill), and the two changes the rest is
built of: rest an order at the back of its level, remove one in O(1).
:class:`~.book.OrderBook` adds the matching on top of it, and
:class:`~.replay.BookReplay` the replay of a book's stream.

Example::

    book = OrderBook("ACME")                     # a BookSides, with matching
    book.submit("ann", "sell", 100, 10_000)
    assert book.depth("sell") == [(10_000, 100, 1)]
    assert book.cost_to_fill("buy", 30) == (300_000, 30)
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from typing import Any

from .events import QuoteChanged
from .levels import Level, RestingOrder
from .orders import BUY, SELL

__all__ = ["BookSides"]


class BookSides:
    """One symbol's resting orders and counters; see the module docs."""

    def __init__(
        self, symbol: str, *, tick_size: int = 1, lot_size: int = 1, max_quantity: int = 10**9
    ) -> None:
        for name, value in (("tick_size", tick_size), ("lot_size", lot_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.symbol = symbol
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.max_quantity = max_quantity
        self.bids: dict[int, Level] = {}
        self.asks: dict[int, Level] = {}
        # sorted price keys, best last: bids by price, asks by -price
        self._bid_keys: list[int] = []
        self._ask_keys: list[int] = []
        self.orders: dict[str, RestingOrder] = {}
        self.sequence = 0
        self.trade_sequence = 0
        self.halted = False
        self.last_price: int | None = None

    # -- reading -------------------------------------------------------------------
    def best_bid(self) -> tuple[int, int] | None:
        """The best bid's (price, quantity), or None."""
        if not self._bid_keys:
            return None
        price = self._bid_keys[-1]
        return price, self.bids[price].quantity

    def best_ask(self) -> tuple[int, int] | None:
        """The best ask's (price, quantity), or None."""
        if not self._ask_keys:
            return None
        price = -self._ask_keys[-1]
        return price, self.asks[price].quantity

    def quote(self) -> QuoteChanged:
        """The top of the book now, as a ``QuoteChanged`` event."""
        bid, ask = self.best_bid(), self.best_ask()
        return QuoteChanged(
            self.symbol,
            None if bid is None else bid[0],
            0 if bid is None else bid[1],
            None if ask is None else ask[0],
            0 if ask is None else ask[1],
            self.last_price,
        )

    def depth(self, side: str, levels: int = 10) -> list[tuple[int, int, int]]:
        """The best ``levels`` price levels of ``side``: (price, quantity, orders)."""
        if side == BUY:
            prices = list(reversed(self._bid_keys[-levels:]))
            book = self.bids
        else:
            prices = [-k for k in reversed(self._ask_keys[-levels:])]
            book = self.asks
        return [(p, book[p].quantity, book[p].live) for p in prices]

    def level_orders(self, side: str) -> Iterator[tuple[int, list[RestingOrder]]]:
        """Every level of ``side``, best first, with its live orders oldest first."""
        if side == BUY:
            for key in reversed(self._bid_keys):
                yield key, list(self.bids[key])
        else:
            for key in reversed(self._ask_keys):
                yield -key, list(self.asks[-key])

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain data (two books are identical when these are equal)."""

        def side(name: str) -> list[Any]:
            return [
                (
                    price,
                    [
                        (o.order_id, o.sequence, o.account, o.quantity, o.stp, o.post_only,
                         o.client_order_id)
                        for o in orders
                    ],
                )
                for price, orders in self.level_orders(name)
            ]  # fmt: skip

        return {
            "symbol": self.symbol,
            "sequence": self.sequence,
            "trade_sequence": self.trade_sequence,
            "halted": self.halted,
            "last_price": self.last_price,
            "bids": side(BUY),
            "asks": side(SELL),
        }

    def check(self) -> None:
        """Assert the book's own invariants (tests): levels agree with their
        orders, the id index with the levels, and the book is not crossed."""
        seen: set[str] = set()
        for name, book, keys in (
            (BUY, self.bids, self._bid_keys),
            (SELL, self.asks, self._ask_keys),
        ):
            prices = sorted(book)
            assert sorted(abs(k) for k in keys) == prices, (name, keys, prices)
            for price, level in book.items():
                live = list(level)
                assert live, f"empty level {price}"
                assert level.live == len(live), (price, level.live, len(live))
                assert level.quantity == sum(o.quantity for o in live), price
                for o in live:
                    assert o.side == name, o
                    assert o.price == price, o
                    assert self.orders.get(o.order_id) is o, o
                    seen.add(o.order_id)
        assert seen == set(self.orders), "the id index and the levels disagree"
        bid, ask = self.best_bid(), self.best_ask()
        assert bid is None or ask is None or bid[0] < ask[0], f"crossed book {bid} / {ask}"

    # -- estimating --------------------------------------------------------------------
    def cost_to_fill(self, side: str, quantity: int, limit: int | None = None) -> tuple[int, int]:
        """What taking ``quantity`` on ``side`` would cost now: (price units, shares
        available up to ``limit``); the risk check of market orders uses it."""
        cost = filled = 0
        for price, orders in self.level_orders(SELL if side == BUY else BUY):
            if limit is not None and (price > limit if side == BUY else price < limit):
                break
            for o in orders:
                take = min(o.quantity, quantity - filled)
                cost += take * price
                filled += take
                if filled == quantity:
                    return cost, filled
        return cost, filled

    # -- changing ----------------------------------------------------------------------
    def _rest(self, order: RestingOrder) -> None:
        """Put ``order`` at the back of its price level."""
        price = order.price
        assert price is not None
        if order.side == BUY:
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
        level.quantity += order.quantity
        self.orders[order.order_id] = order

    def _remove(self, order: RestingOrder) -> int:
        """Take ``order`` out of the book in O(1) and return its open quantity
        (its queue entry stays behind, dead: its quantity is now 0)."""
        price = order.price
        assert price is not None
        if order.side == BUY:
            levels, keys, key = self.bids, self._bid_keys, price
        else:
            levels, keys, key = self.asks, self._ask_keys, -price
        quantity = order.quantity
        order.quantity = 0
        level = levels[price]
        level.live -= 1
        level.quantity -= quantity
        del self.orders[order.order_id]
        if not level.live:
            del levels[price]
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
        elif len(level.orders) > 2 * level.live + 32:  # many dead entries: compact
            level.orders = deque(o for o in level.orders if o.quantity)
        return quantity
