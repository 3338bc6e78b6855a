"""Demo: the founding document's e-commerce catalogue, with CQRS, as an App.

``eventflux.demos.shop:app`` is the App (``eventflux worker`` / ``eventflux
serve`` run it); :func:`make_app` builds one on other URLs; :func:`run` is the
scripted tour of ``eventflux demo shop``.
"""

from __future__ import annotations

from .app import (
    AddProduct,
    AdjustStock,
    CartLine,
    Catalog,
    ChangePrice,
    Checkout,
    DiscontinueProduct,
    GetOrder,
    GetProduct,
    ListProducts,
    LowStock,
    Page,
    ReserveStock,
    SearchProducts,
    make_app,
)
from .scenario import PRODUCTS, TITLE, run

__all__ = [
    "PRODUCTS",
    "ReserveStock",
    "TITLE",
    "AddProduct",
    "AdjustStock",
    "CartLine",
    "Catalog",
    "ChangePrice",
    "Checkout",
    "DiscontinueProduct",
    "GetOrder",
    "GetProduct",
    "ListProducts",
    "LowStock",
    "Page",
    "SearchProducts",
    "app",
    "make_app",
    "run",
]

#: The shop App on the default URLs ($EVENTFLUX_STORE / $EVENTFLUX_BUS, else SQLite files).
app = make_app()
