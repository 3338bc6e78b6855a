"""Rebuilding a book from its stream: every event of the stream, applied.

:meth:`BookReplay.apply` is the second way to a book's state: the book's
matching (:class:`~.book.OrderBook`) decides and applies its decisions in one
pass; replaying the events it returned, in order, into an empty book yields
the identical book. ``OrderBook`` inherits it.

Example::

    copy = OrderBook("ACME", tick_size=5, lot_size=10)
    for e in all_events:
        copy.apply(e)
    assert copy.snapshot() == book.snapshot()
"""

from __future__ import annotations

from typing import Any

from .events import (
    BookOpened,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderReduced,
    OrderRejected,
    QuoteChanged,
    TradeExecuted,
    TradingHalted,
    TradingResumed,
)
from .levels import RestingOrder
from .orders import BUY, GTC, LIMIT
from .sides import BookSides

__all__ = ["BookReplay", "Event"]

Event = Any  # one of the classes of .events


class BookReplay(BookSides):
    """A book that applies the events of its stream; see the module docs."""

    def apply(self, event: Event) -> None:
        """Apply one event of this book's stream (rebuilding from the stream)."""
        handler = _APPLY.get(type(event))
        if handler is None:
            raise TypeError(f"an order book does not apply {type(event).__name__}")
        handler(self, event)

    def _apply_opened(self, e: BookOpened) -> None:
        self.tick_size, self.lot_size = e.tick_size, e.lot_size
        if self.last_price is None:
            self.last_price = e.reference_price

    def _apply_accepted(self, e: OrderAccepted) -> None:
        self.sequence = e.sequence
        if e.kind == LIMIT and e.tif == GTC:
            # it joins its level now; the fills that follow take its quantity
            self._rest(
                RestingOrder(
                    e.order_id, e.sequence, e.account, e.side, e.price, e.quantity, e.stp,
                    e.post_only, e.client_order_id,
                )
            )  # fmt: skip

    def _take(self, order_id: str, quantity: int) -> None:
        order = self.orders.get(order_id)
        if order is None:
            return  # an immediate-or-cancel order: it never rested
        if quantity >= order.quantity:
            self._remove(order)
            return
        level = (self.bids if order.side == BUY else self.asks)[order.price]  # type: ignore[index]
        level.quantity -= quantity
        order.quantity -= quantity

    def _apply_trade(self, e: TradeExecuted) -> None:
        self._take(e.maker_order_id, e.quantity)
        self._take(e.taker_order_id, e.quantity)
        self.trade_sequence = e.trade_id
        self.last_price = e.price

    def _apply_cancelled(self, e: OrderCancelled) -> None:
        order = self.orders.get(e.order_id)
        if order is not None:
            self._remove(order)

    def _apply_reduced(self, e: OrderReduced) -> None:
        self._take(e.order_id, e.quantity)

    def _apply_amended(self, e: OrderAmended) -> None:
        order = self.orders[e.order_id]
        if e.priority_kept:
            level = (self.bids if order.side == BUY else self.asks)[e.price]
            level.quantity -= order.quantity - e.quantity
            order.quantity = e.quantity
            return
        self._remove(order)
        self._rest(
            RestingOrder(
                order.order_id, order.sequence, order.account, order.side, e.price, e.quantity,
                order.stp, order.post_only, order.client_order_id,
            )
        )  # fmt: skip

    def _apply_nothing(self, e: Any) -> None:
        pass

    def _apply_halted(self, e: TradingHalted) -> None:
        self.halted = True

    def _apply_resumed(self, e: TradingResumed) -> None:
        self.halted = False


_APPLY: dict[type[Any], Any] = {
    BookOpened: BookReplay._apply_opened,
    OrderAccepted: BookReplay._apply_accepted,
    OrderRejected: BookReplay._apply_nothing,
    TradeExecuted: BookReplay._apply_trade,
    OrderCancelled: BookReplay._apply_cancelled,
    OrderReduced: BookReplay._apply_reduced,
    OrderAmended: BookReplay._apply_amended,
    QuoteChanged: BookReplay._apply_nothing,
    TradingHalted: BookReplay._apply_halted,
    TradingResumed: BookReplay._apply_resumed,
}
