"""Demo: the founding document's order -> payment -> shipping example as four
services, each an App runnable as its own process, coordinated by a saga.

::

    eventflux worker eventflux.demos.orders:orders      # the saga, the page
    eventflux worker eventflux.demos.orders:stock
    eventflux worker eventflux.demos.orders:payments    # start several: they share the work
    eventflux worker eventflux.demos.orders:shipping

``eventflux demo orders --workers 3`` starts them (three payments processes)
on SQLite files, places orders, and reports each worker's share, the
throughput, completion times and outcomes. docs/orders.md runs the same on
PostgreSQL and a NATS cluster, across machines.
"""

from __future__ import annotations

from .domain import CATALOG, CancelOrder, CompleteOrder, PlaceOrder, Settings, configure, settings
from .orders_app import orders
from .payments_app import payments
from .run import TITLE, run
from .saga import OrderFulfilment
from .shipping_app import shipping
from .stock_app import stock

__all__ = [
    "CATALOG",
    "TITLE",
    "CancelOrder",
    "CompleteOrder",
    "OrderFulfilment",
    "PlaceOrder",
    "Settings",
    "configure",
    "orders",
    "payments",
    "run",
    "settings",
    "shipping",
    "stock",
]

#: The four services, by name.
SERVICES = {"orders": orders, "stock": stock, "payments": payments, "shipping": shipping}
