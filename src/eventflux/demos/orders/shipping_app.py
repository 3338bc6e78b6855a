"""The ``shipping`` service: ships paid orders; a few shipments fail (the same
orders every time, ``$ORDERS_SHIPPING_FAILURE_RATE``), and the saga then
refunds the payment and releases the stock.

Run it alone with ``eventflux worker eventflux.demos.orders:shipping``.
"""

from __future__ import annotations

from ...app import App, Context
from ...bus import Message
from ...events import NewEvent
from .domain import SHIPPING, deterministic_share, event_id, settings

__all__ = ["shipping"]

shipping = App("shipping")


@shipping.subscribe(SHIPPING, group="shipping", max_deliver=20, backoff=(0.05, 2.0), ack_wait=5.0)
async def on_shipping_request(msg: Message, ctx: Context) -> None:
    """Ship one order (recording the same answer however often it is asked)."""
    order_id = msg.data["order_id"]
    now = settings()
    failed = deterministic_share(order_id, "shipping") < now.shipping_failure_rate
    fact = {"order_id": order_id, "worker": now.worker}
    if failed:
        fact["reason"] = "the carrier refused the parcel"
    kind = "orders.ShippingFailed" if failed else "orders.OrderShipped"
    event = NewEvent(kind, fact, id=event_id(order_id, "shipment"))
    await ctx.store.append(f"shipment-{order_id}", [event])
