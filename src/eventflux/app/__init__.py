"""The App: one object wires an application's store, bus and handlers (DESIGN 3.5).

Example::

    from eventflux import App, Context

    app = App("orders")

    @app.command(PlaceOrder)
    async def place(cmd: PlaceOrder, ctx: Context) -> str: ...

    async with app.running():
        await app.dispatch(PlaceOrder("o-1"))
"""

from __future__ import annotations

from .app import App, Page, ProjectionSpec, RelaySpec, SubscriptionSpec
from .context import AppLike, Context
from .handlers import HandlerTable, Middleware, Next

__all__ = [
    "App",
    "AppLike",
    "Context",
    "HandlerTable",
    "Middleware",
    "Next",
    "Page",
    "ProjectionSpec",
    "RelaySpec",
    "SubscriptionSpec",
]
