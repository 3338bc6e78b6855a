"""The ``orders`` service: places orders, runs the fulfilment saga, records
how each order ended, and serves the demo page.

Run it alone with ``eventflux worker eventflux.demos.orders:orders``.
"""

from __future__ import annotations

from ...app import App, Context
from ...events import NewEvent
from ...exceptions import DomainError
from .domain import CATALOG, CancelOrder, CompleteOrder, PlaceOrder, event_id
from .page_data import page_context
from .saga import OrderFulfilment

__all__ = ["orders"]

orders = App("orders")
orders.saga(OrderFulfilment)
#: The demo page (templates/orders.html; its JSON routes: eventflux.demos.orders.web).
orders.page("/", "orders.html", context=page_context)


@orders.command(PlaceOrder)
async def place_order(cmd: PlaceOrder, ctx: Context) -> str:
    """Record ``OrderPlaced`` (placing one order id twice records it once)."""
    item = CATALOG.get(cmd.sku)
    if item is None:
        raise DomainError(f"there is no product {cmd.sku!r}; choose one of {', '.join(CATALOG)}")
    if cmd.qty < 1:
        raise DomainError("an order is for at least one unit")
    data = {
        "order_id": cmd.order_id,
        "sku": cmd.sku,
        "qty": cmd.qty,
        "amount": item[1] * cmd.qty,
        "customer": cmd.customer,
    }
    event = NewEvent("orders.OrderPlaced", data, id=event_id(cmd.order_id, "placed"))
    await ctx.store.append(f"order-{cmd.order_id}", [event])
    return cmd.order_id


@orders.command(CompleteOrder)
async def complete_order(cmd: CompleteOrder, ctx: Context) -> None:
    event = NewEvent(
        "orders.OrderCompleted", {"order_id": cmd.order_id}, id=event_id(cmd.order_id, "ended")
    )
    await ctx.store.append(f"order-{cmd.order_id}", [event])


@orders.command(CancelOrder)
async def cancel_order(cmd: CancelOrder, ctx: Context) -> None:
    data = {"order_id": cmd.order_id, "reason": cmd.reason}
    event = NewEvent("orders.OrderCancelled", data, id=event_id(cmd.order_id, "ended"))
    await ctx.store.append(f"order-{cmd.order_id}", [event])
