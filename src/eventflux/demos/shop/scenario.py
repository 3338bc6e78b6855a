"""The shop demo's scripted run (``eventflux demo shop``): the founding
document's e-commerce catalogue, with CQRS.

Commands (AddProduct, ChangePrice, AdjustStock, DiscontinueProduct) change
event-sourced products; the ``shop-catalog`` projection keeps the catalogue in
its own read model (``shop-read.db``, or any read-model URL: a PostgreSQL
schema runs the same code); queries read only that: one product, pages, a
name search, the products running low. At the end the catalogue is rebuilt
from position zero beside the live one and swapped in, while queries keep
running.

Rebuild the catalogue with
``eventflux projections rebuild shop-catalog --app eventflux.demos.shop:app``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ...app import App
from ...cqrs import open_read_model
from ...exceptions import EventfluxError
from ...observability import trace
from ..bank.scenario import remove_databases
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
    SearchProducts,
    make_app,
)

__all__ = ["PRODUCTS", "TITLE", "run"]

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
    db, read, bus = workdir / "shop-events.db", workdir / "shop-read.db", workdir / "shop-bus.db"
    remove_databases(db, read, bus)
    read_url = read_url or f"sqlite:///{read}"
    app = make_app(store=f"sqlite:///{db}", bus=f"sqlite:///{bus}", read_model=read_url)
    lines: list[str] = []
    async with app.running():
        await _commands(app, lines)
        await app.settle()
        await _queries(app, lines)
        await _rebuild(app, lines, read_url)
        await _checkout(app, lines)
    return lines


async def _commands(shop: App, lines: list[str]) -> None:
    send = shop.dispatch
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


async def _queries(shop: App, lines: list[str]) -> None:
    ask = shop.ask
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


async def _rebuild(shop: App, lines: list[str], read_url: str) -> None:
    expected = (await shop.ask(ListProducts(include_discontinued=True))).total
    seen: list[int] = []
    done = asyncio.Event()

    async def keep_querying() -> None:
        while not done.is_set():
            page = await shop.ask(ListProducts(include_discontinued=True))
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
    status = await shop.projection_instance(Catalog).status(shop.store)
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
        "  the same from a shell: eventflux projections rebuild shop-catalog "
        "--app eventflux.demos.shop:app"
    )


async def _checkout(shop: App, lines: list[str]) -> None:
    """Two checkouts through the bus: the stock service confirms one, rejects one;
    the causal chain of the first, from the event store."""
    await shop.dispatch(
        Checkout("o-1001", "ann", (CartLine("teapot", 1), CartLine("tea-green", 2))),
        metadata={"user": "ann", "actor": "ann"},
    )
    await shop.dispatch(
        Checkout("o-1002", "bob", (CartLine("mug-red", 5),)),
        metadata={"user": "bob", "actor": "bob"},
    )
    orders: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(30):
        while len(orders) < 2:
            for order_id in ("o-1001", "o-1002"):
                order = await shop.ask(GetOrder(order_id))
                if order is not None and order["status"] != "placed":
                    orders[order_id] = order
            await asyncio.sleep(0.01)
    for order in orders.values():
        items = ", ".join(f"{x['quantity']} x {x['sku']}" for x in order["lines"])
        lines.append(
            f"Checkout {order['order_id']} by {order['customer']} ({items}): {order['status']}"
            + (f", {_euros(order['total'])}" if order["status"] == "confirmed" else "")
        )
    placed = await anext(e async for e in shop.store.read("order-o-1001"))
    correlation = str(placed.metadata["correlation_id"])
    chain = await trace(shop.store, correlation, subject_of=shop.subject_of)
    lines.append(f"causal chain of o-1001 ({len(chain.nodes)} hops, correlation {correlation}):")
    for node in chain.nodes:
        where = node.stream or ""
        lines.append(f"  {node.kind:<8} {node.name:<22} {where}")
    lines.append(
        f"  as a sequence diagram: eventflux audit {correlation} "
        "--app eventflux.demos.shop:app --mermaid"
    )
