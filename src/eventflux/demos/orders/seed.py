"""The orders demo's first data, for ``eventflux serve``: a handful of orders,
so the page has timelines to show (one runs out of stock). Placing an order id
twice records it once, so a store that has them is left as it is.

Example::

    async with orders.running():
        await seed(orders)
"""

from __future__ import annotations

from ...app import App
from .domain import PlaceOrder

__all__ = ["seed"]

FIRST: tuple[tuple[str, str, str], ...] = (
    ("first-1", "mug", "ann"),
    ("first-2", "teapot", "bo"),
    ("first-3", "kettle", "cy"),
    ("first-4", "sold-out", "ann"),
    ("first-5", "rare-print", "dee"),
)


async def seed(app: App) -> None:
    """Place the first orders (only the ``orders`` App places orders)."""
    if app.name != "orders":
        return
    for order_id, sku, customer in FIRST:
        await app.dispatch(PlaceOrder(order_id, sku, 1, customer), metadata={"actor": customer})
