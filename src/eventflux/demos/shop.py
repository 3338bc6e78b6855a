"""Demo: the founding document's e-commerce catalogue, with CQRS.

Commands (AddProduct, ChangePrice, AdjustStock, DiscontinueProduct) change
event-sourced products; the ``shop-catalog`` projection keeps the catalogue in
its own read model (``shop-read.db``, or any read-model URL: a PostgreSQL
schema runs the same code); queries read only that: one product, pages, a
name search, the products running low. At the end the catalogue is rebuilt
from position zero beside the live one and swapped in, while queries keep
running.

Run it with ``eventflux demo shop``; rebuild the catalogue with
``eventflux projections rebuild shop-catalog --store sqlite:///shop-events.db``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..cqrs import open_read_model, read_model_url, register_projection
from ..exceptions import EventfluxError
from ..store import open_store
from ._shop_app import (
    AddProduct,
    AdjustStock,
    Catalog,
    ChangePrice,
    DiscontinueProduct,
    GetProduct,
    ListProducts,
    LowStock,
    Page,
    SearchProducts,
    Shop,
)
from .bank import remove_databases

__all__ = ["TITLE", "Shop", "catalog", "run"]

TITLE = "Shop: a CQRS catalogue whose read model lives in its own database"

PRODUCTS = [
    ("mug-blue", "Blue mug", 900, 40),
    ("mug-red", "Red mug", 900, 3),
    ("mug-travel", "Travel mug", 1900, 12),
    ("tea-green", "Green tea", 650, 25),
    ("tea-black", "Black tea", 550, 2),
    ("teapot", "Cast-iron teapot", 4500, 4),
    ("kettle", "Electric kettle", 3900, 8),
    ("spoon", "Tea spoon", 250, 100),
    ("coaster", "Cork coaster", 300, 60),
    ("filter", "Paper filters", 400, 0),
    ("cup-espresso", "Espresso cup", 700, 18),
    ("grinder", "Coffee grinder", 5900, 6),
]


def catalog(store_url: str) -> Catalog:
    """The ``shop-catalog`` projection, on the ``shop-read`` read model beside the
    event store (``shop-read.db`` next to a SQLite store, schema ``shop_read`` in
    a PostgreSQL one)."""
    return Catalog(open_read_model(read_model_url(store_url, "shop-read")))


register_projection("shop-catalog", catalog, description="product catalogue of the shop demo")


def _euros(cents: int) -> str:
    return f"{cents / 100:.2f} EUR"


def _product(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not found"
    gone = ", discontinued" if row["discontinued"] else ""
    return f"{row['sku']}: {row['name']}, {_euros(row['price'])}, {row['stock']} in stock{gone}"


def _names(rows: list[dict[str, Any]]) -> str:
    return ", ".join(r["name"] for r in rows) or "none"


async def run(workdir: Path, *, read_url: str | None = None) -> list[str]:
    """Run the shop scenario against ``sqlite:///{workdir}/shop-events.db``, with
    the catalogue in ``shop-read.db`` there, or in the read model ``read_url``
    names (which must be empty)."""
    db, read = workdir / "shop-events.db", workdir / "shop-read.db"
    remove_databases(db, read)
    read_url = read_url or f"sqlite:///{read}"
    lines: list[str] = []
    async with await open_store(f"sqlite:///{db}") as store:
        shop = Shop(store, open_read_model(read_url))
        live = asyncio.create_task(shop.catalog.run(store))
        try:
            await _commands(shop, lines)
            await shop.settle()
            await _queries(shop, lines)
            await _rebuild(shop, lines, f"sqlite:///{db}", read_url)
        finally:
            live.cancel()
            await asyncio.gather(live, return_exceptions=True)
            await shop.model.close()
    return lines


async def _commands(shop: Shop, lines: list[str]) -> None:
    send = shop.commands.dispatch
    meta = {"user": "maria", "reason": "new season"}
    for sku, name, price, stock in PRODUCTS:
        await send(AddProduct(sku, name, price, stock), metadata=meta)
    lines.append(f"AddProduct x{len(PRODUCTS)}: the catalogue has {len(PRODUCTS)} products")
    await send(ChangePrice("teapot", 3990), metadata={"user": "maria", "reason": "spring sale"})
    lines.append("ChangePrice teapot: 45.00 EUR -> 39.90 EUR")
    left = await send(AdjustStock("mug-blue", -38, "sold"), metadata={"user": "till-2"})
    lines.append(f"AdjustStock mug-blue -38 (sold): {left} left")
    left = await send(AdjustStock("filter", 50, "delivery"), metadata={"user": "dock"})
    lines.append(f"AdjustStock filter +50 (delivery): {left} in stock")
    await send(DiscontinueProduct("coaster", "supplier gone"), metadata=meta)
    lines.append("DiscontinueProduct coaster")
    for command in (
        ChangePrice("coaster", 350),
        AdjustStock("tea-black", -5, "sold"),
        AddProduct("spoon", "Another spoon", 100),
        AddProduct("fork", "Fork", 0),
        ChangePrice("ladle", 500),
    ):
        try:
            await send(command, metadata=meta)
        except EventfluxError as e:
            lines.append(f"refused {type(command).__name__} {command.sku}: {type(e).__name__}: {e}")


async def _queries(shop: Shop, lines: list[str]) -> None:
    ask = shop.queries.dispatch
    lines.append(f"GetProduct teapot -> {_product(await ask(GetProduct('teapot')))}")
    lines.append(f"GetProduct ladle -> {_product(await ask(GetProduct('ladle')))}")
    for number in (1, 2, 3):
        page: Page = await ask(ListProducts(page=number, page_size=5))
        lines.append(
            f"ListProducts page {page.page} of {page.pages} ({page.total} on sale): "
            f"{_names(page.items)}"
        )
    lines.append(f"SearchProducts 'mug' -> {_names(await ask(SearchProducts('mug')))}")
    lines.append(f"SearchProducts 'TEA' -> {_names(await ask(SearchProducts('TEA')))}")
    low = await ask(LowStock(threshold=5))
    lines.append("LowStock <= 5 -> " + ", ".join(f"{r['sku']} ({r['stock']})" for r in low))


async def _rebuild(shop: Shop, lines: list[str], store_url: str, read_url: str) -> None:
    expected = (await shop.queries.dispatch(ListProducts(include_discontinued=True))).total
    seen: list[int] = []
    done = asyncio.Event()

    async def keep_querying() -> None:
        while not done.is_set():
            page = await shop.queries.dispatch(ListProducts(include_discontinued=True))
            seen.append(page.total)
            await asyncio.sleep(0)

    queries = asyncio.create_task(keep_querying())
    rebuilder = Catalog(open_read_model(read_url))
    rebuilder.batch_size = 4  # small batches: a slow rebuild, to watch the queries meanwhile
    try:
        replayed = await rebuilder.rebuild(shop.store)
    finally:
        done.set()
        await queries
        await rebuilder.model.close()
    status = await shop.catalog.status(shop.store)
    lines.append(
        f"rebuilt {status.name} from position 0 beside the live catalogue and swapped it in: "
        f"{replayed} events replayed, lag {status.lag}"
    )
    full = sum(1 for n in seen if n == expected)
    lines.append(
        f"  {len(seen)} queries ran during the rebuild; {full} of them saw all {expected} "
        "products (never an empty or half-built catalogue)"
    )
    lines.append(
        f"  the same from a shell: eventflux projections rebuild shop-catalog --store {store_url}"
    )
