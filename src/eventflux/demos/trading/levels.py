"""The records of a book's sides: a resting order and the price level that queues it.

A :class:`RestingOrder` is one open order (or one being matched) with its open
``quantity``; a :class:`Level` is the queue of orders at one price, oldest
first, with its counters. They hold data only: :class:`~.sides.BookSides`
keeps the counters in step with the orders.

Example::

    order = RestingOrder("ACME-1", 1, "ann", "sell", 10_000, 100, "expire_taker", False, "")
    level = Level()
    level.orders.append(order)
    level.live += 1
    level.quantity += order.quantity
    assert list(level) == [order]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import msgspec

__all__ = ["Level", "RestingOrder"]


class RestingOrder(msgspec.Struct, gc=False):
    """An order in the book (or one being matched): its open ``quantity``.

    A mutable ``msgspec.Struct``: about three times cheaper to build than a
    slotted class, and one is built per order.
    """

    order_id: str
    sequence: int
    account: str
    side: str
    price: int | None
    quantity: int
    stp: str
    post_only: bool
    client_order_id: str


class Level:
    """The orders at one price, oldest first.

    A cancelled order stays in the queue with quantity 0 until matching
    reaches it (or the queue is compacted): that is what makes a cancel O(1).
    """

    __slots__ = ("live", "orders", "quantity")

    def __init__(self) -> None:
        self.orders: deque[RestingOrder] = deque()
        self.live = 0
        self.quantity = 0

    def __iter__(self) -> Iterator[RestingOrder]:
        return (o for o in self.orders if o.quantity)
