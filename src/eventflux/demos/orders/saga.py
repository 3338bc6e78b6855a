"""The fulfilment saga of the orders demo: one instance per order.

::

    OrderPlaced ──> reserve stock ──> charge payment ──> ship ──> completed
                     │ out of stock     │ declined, or no    │ shipping
                     v                  │ answer in time     │ failed
                  cancelled             v                    v
                                  release stock        refund payment
                                   -> cancelled        release stock
                                                        -> cancelled

Requests go to the services on the bus (``stock.requests``,
``payments.requests``, ``shipping.requests``, keyed by order id); answers come
back as store events. Each completed step registers its compensation, and a
failure runs them newest first. The order's own stream records the end
(``CompleteOrder`` / ``CancelOrder`` commands).
"""

from __future__ import annotations

import os
from typing import ClassVar

from ...events import RecordedEvent
from ...sagas import Saga, handles, starts, timeout
from .domain import PAYMENTS, SHIPPING, STOCK, CancelOrder, CompleteOrder, order_id_of, request

__all__ = ["OrderFulfilment"]


class OrderFulfilment(Saga):
    """Order -> stock -> payment -> shipping, compensated on every failure."""

    name = "OrderFulfilment"
    max_deliver = 20
    backoff = (0.05, 2.0)
    ack_wait = 5.0  # a crashed process's inputs come back after 5 s
    #: Seconds to wait for the payment's answer (``$ORDERS_PAY_TIMEOUT``).
    pay_timeout: ClassVar[float] = float(os.environ.get("ORDERS_PAY_TIMEOUT") or 30.0)

    def _ask(self, subject: str, op: str, **data: object) -> None:
        self.publish(subject, request(op, self.key, **data), key=self.key)

    def _cancel(self, reason: str) -> None:
        self.state["status"] = "cancelled"
        self.state["reason"] = reason
        self.finish("cancelled", compensate=True)
        self.send(CancelOrder(self.key, reason))

    @starts("orders.OrderPlaced", key=order_id_of)
    async def placed(self, e: RecordedEvent) -> None:
        if self.state:
            return  # the same order placed again: the first one goes on
        self.state.update(
            status="reserving",
            sku=e.data["sku"],
            qty=e.data["qty"],
            amount=e.data["amount"],
            placed_at=e.recorded_at.isoformat(),
        )
        self._ask(STOCK, "reserve", sku=e.data["sku"], qty=e.data["qty"])

    @handles("orders.StockReserved", key=order_id_of)
    async def reserved(self, e: RecordedEvent) -> None:
        self.state["status"] = "charging"
        self.compensate(STOCK, request("release", self.key), key=self.key)
        self._ask(PAYMENTS, "charge", amount=self.state["amount"])
        self.deadline(type(self).pay_timeout, "payment")

    @handles("orders.StockUnavailable", key=order_id_of)
    async def unavailable(self, e: RecordedEvent) -> None:
        self._cancel("out of stock")

    @handles("orders.PaymentCharged", key=order_id_of)
    async def charged(self, e: RecordedEvent) -> None:
        self.cancel_deadline("payment")
        self.state["status"] = "shipping"
        self.state["charged_by"] = e.data.get("worker")
        self.compensate(PAYMENTS, request("refund", self.key), key=self.key)
        self._ask(SHIPPING, "ship", sku=self.state["sku"], qty=self.state["qty"])

    @handles("orders.PaymentDeclined", key=order_id_of)
    async def declined(self, e: RecordedEvent) -> None:
        self.cancel_deadline("payment")
        self._cancel("payment declined")

    @timeout("payment")
    async def payment_timed_out(self) -> None:
        # a charge that arrives later is voided: refunded if it went through
        self._ask(PAYMENTS, "void")
        self._cancel("payment timed out")

    @handles("orders.OrderShipped", key=order_id_of)
    async def shipped(self, e: RecordedEvent) -> None:
        self.state["status"] = "completed"
        self.finish("completed")
        self.send(CompleteOrder(self.key))

    @handles("orders.ShippingFailed", key=order_id_of)
    async def shipping_failed(self, e: RecordedEvent) -> None:
        self._cancel("shipping failed")

    async def on_cancel(self, reason: str) -> None:
        self.state["status"] = "cancelled"
        self.state["reason"] = reason
        self.send(CancelOrder(self.key, reason))
