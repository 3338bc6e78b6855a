"""A symbol's book as an event-sourced aggregate (``trading-book-<SYMBOL>``).

The :class:`~.book.OrderBook` matching core decides and applies its own
decisions in one pass; the aggregate records the events it returns without
applying them twice, and replays stored events through ``OrderBook.apply``.
So ``Repository(store, OrderBookAggregate).get("ACME", as_of=t)`` rebuilds
the book as it stood at any time.

Example::

    books = Repository(store, OrderBookAggregate)
    book = OrderBookAggregate.open(BookOpened("ACME", 1, 1, 100_00))
    book.submit("ann", "buy", 10, 99_50)
    await books.save(book)
    assert (await books.get("ACME")).book.snapshot() == book.book.snapshot()
"""

from __future__ import annotations

from typing import Any

from ...es import Aggregate, apply
from .book import OrderBook
from .events import BookEvent, BookOpened

__all__ = ["OrderBookAggregate"]


class OrderBookAggregate(Aggregate):
    """One symbol's order book; its id is the symbol."""

    stream_prefix = "trading-book"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.book = OrderBook(id)
        self._deciding = False

    @classmethod
    def open(cls, opened: BookOpened) -> OrderBookAggregate:
        aggregate = cls(opened.symbol)
        aggregate.record(opened)
        return aggregate

    def _take(self, events: list[Any]) -> list[Any]:
        # the core already applied these: record them without applying again
        self._deciding = True
        try:
            for event in events:
                self.record(event)
        finally:
            self._deciding = False
        return events

    def submit(self, account: str, side: str, quantity: int, price: int | None = None,
               **options: Any) -> list[Any]:  # fmt: skip
        """``OrderBook.submit``, recorded."""
        return self._take(self.book.submit(account, side, quantity, price, **options))

    def cancel(self, order_id: str, account: str | None = None) -> list[Any]:
        """``OrderBook.cancel``, recorded."""
        return self._take(self.book.cancel(order_id, account))

    def amend(self, order_id: str, account: str | None = None, **changes: Any) -> list[Any]:
        """``OrderBook.amend``, recorded."""
        return self._take(self.book.amend(order_id, account, **changes))

    @apply
    def _event(self, event: BookEvent) -> None:
        if self._deciding:
            return
        if isinstance(event, BookOpened):
            self.book = OrderBook.opened(event)
        else:
            self.book.apply(event)
