"""The shop demo's first data, for ``eventflux serve``: the catalogue, a price
change, and two checkouts that go through the bus (the stock service confirms
one and rejects the other), so the dashboard has streams, a consumer group, a
projection and causal chains across the bus to show. It runs once: a store
that holds products already is left as it is.

Example::

    async with app.running():
        await seed(app)
"""

from __future__ import annotations

from ...app import App
from .app import AddProduct, CartLine, ChangePrice, Checkout
from .scenario import PRODUCTS

__all__ = ["seed"]


async def seed(shop: App) -> None:
    """Fill the catalogue and place two orders, unless products exist."""
    async for _ in shop.store.read_all(stream_prefix="product-", limit=1):
        return
    maria = {"user": "maria", "actor": "maria", "reason": "new season"}
    for sku, name, price, stock in PRODUCTS:
        await shop.dispatch(AddProduct(sku, name, price, stock), metadata=maria)
    await shop.dispatch(ChangePrice("teapot", 3990), metadata={**maria, "reason": "spring sale"})
    await shop.dispatch(
        Checkout("o-1001", "ann", (CartLine("teapot", 1), CartLine("tea-green", 2))),
        metadata={"user": "ann", "actor": "ann"},
    )
    await shop.dispatch(
        Checkout("o-1002", "bob", (CartLine("mug-red", 5),)),
        metadata={"user": "bob", "actor": "bob"},
    )
