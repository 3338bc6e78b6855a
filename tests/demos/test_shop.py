"""The shop demo: its scenario and its behaviour, failure paths included, with
the catalogue on every read model."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.cqrs._places import ReadPlace

from eventflux import App
from eventflux.cqrs import ValidationError
from eventflux.demos import shop as demo
from eventflux.demos.shop import (
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
    ReserveStock,
    SearchProducts,
    make_app,
)
from eventflux.demos.shop.domain import (
    NotEnoughStock,
    OrderExists,
    ProductExists,
    ProductUnavailable,
)
from eventflux.es import AggregateNotFoundError

META = {"user": "maria"}


@pytest_asyncio.fixture
async def shop(tmp_path: Path, place: ReadPlace) -> AsyncIterator[App]:
    app = make_app(
        store=f"sqlite:///{tmp_path}/shop-events.db", bus="memory://", read_model=place.url
    )
    async with app.running():
        for sku, name, price, stock in demo.PRODUCTS:
            await app.dispatch(AddProduct(sku, name, price, stock), metadata=META)
        await app.settle()
        yield app


@pytest.mark.asyncio
async def test_the_scenario_tells_what_happened(tmp_path: Path, place: ReadPlace) -> None:
    on_sqlite = place.kind == "sqlite"
    lines = await demo.run(tmp_path, read_url=None if on_sqlite else place.url)
    text = "\n".join(lines)
    assert demo.TITLE
    assert "ChangePrice teapot: 45.00 EUR -> 39.90 EUR" in text
    assert "refused ChangePrice coaster: ProductUnavailable" in text
    assert "refused AdjustStock tea-black: NotEnoughStock" in text
    assert "refused AddProduct spoon: ProductExists" in text
    assert "refused AddProduct fork: ValidationError" in text
    assert "refused ChangePrice ladle: AggregateNotFoundError" in text
    assert "GetProduct teapot -> teapot: Cast-iron teapot, 39.90 EUR, 4 in stock" in text
    assert "ListProducts page 3 of 3 (11 on sale): Travel mug" in text
    assert "SearchProducts 'mug' -> Blue mug, Red mug, Travel mug" in text
    assert "LowStock <= 5 -> mug-blue (2), tea-black (2), mug-red (3), teapot (4)" in text
    assert "16 events replayed, lag 0" in text
    ran = next(line for line in lines if "queries ran during the rebuild" in line)
    total, full, products = (int(w) for w in ran.split() if w.isdigit())
    assert total == full > 0
    assert products == 12
    if not on_sqlite:
        assert await place.open().fetch_value("SELECT count(*) FROM products") == 12
        return
    # the read model is its own file; the event store holds no catalogue table
    with sqlite3.connect(tmp_path / "shop-read.db") as read:
        assert read.execute("SELECT count(*) FROM products").fetchone() == (12,)
    with sqlite3.connect(tmp_path / "shop-events.db") as events:
        tables = {r[0] for r in events.execute("SELECT name FROM sqlite_master")}
    assert "products" not in tables
    assert len(await demo.run(tmp_path)) == len(lines)  # reruns start afresh


@pytest.mark.asyncio
async def test_commands_and_their_refusals(shop: App) -> None:
    send = shop.dispatch
    with pytest.raises(ProductExists):
        await send(AddProduct("spoon", "Spoon", 100), metadata=META)
    with pytest.raises(NotEnoughStock, match="has 2 items; cannot remove 3"):
        await send(AdjustStock("tea-black", -3), metadata=META)
    assert await send(AdjustStock("tea-black", -2), metadata=META) == 0
    with pytest.raises(ValidationError, match="must change something"):
        await send(AdjustStock("tea-black", 0), metadata=META)
    with pytest.raises(ValidationError, match="sku"):
        await send(AddProduct("Bad SKU!", "x", 100), metadata=META)
    with pytest.raises(AggregateNotFoundError):
        await send(DiscontinueProduct("ladle"), metadata=META)
    await send(DiscontinueProduct("kettle", "recalled"), metadata=META)
    for command in (
        ChangePrice("kettle", 100),
        AdjustStock("kettle", 1),
        DiscontinueProduct("kettle"),
    ):
        with pytest.raises(ProductUnavailable):
            await send(command, metadata=META)
    version = await shop.store.stream_version("product-spoon")
    await send(ChangePrice("spoon", 250), metadata=META)  # same price: no event
    assert await shop.store.stream_version("product-spoon") == version


@pytest.mark.asyncio
async def test_queries_read_the_catalogue(shop: App) -> None:
    send, ask = shop.dispatch, shop.ask
    await send(DiscontinueProduct("coaster"), metadata=META)
    await send(ChangePrice("grinder", 4900), metadata=META)
    await send(AddProduct("pct", "100% cotton_towel", 1200, 1), metadata=META)
    await shop.settle()

    assert await ask(GetProduct("grinder")) == {
        "sku": "grinder",
        "name": "Coffee grinder",
        "price": 4900,
        "stock": 6,
        "discontinued": 0,
    }
    assert await ask(GetProduct("nope")) is None
    first = await ask(ListProducts(page=1, page_size=4))
    assert (first.total, first.pages, len(first.items)) == (12, 3, 4)
    assert [r["sku"] for r in first.items] == ["pct", "tea-black", "mug-blue", "teapot"]
    last = await ask(ListProducts(page=3, page_size=4))
    beyond = await ask(ListProducts(page=9, page_size=4))
    assert (len(last.items), beyond.items, beyond.total) == (4, [], 12)
    everything = await ask(ListProducts(page_size=100, include_discontinued=True))
    assert everything.total == 13
    assert {r["sku"] for r in everything.items if r["discontinued"]} == {"coaster"}
    with pytest.raises(ValidationError):
        await ask(ListProducts(page=0))
    with pytest.raises(ValidationError):
        await ask(ListProducts(page_size=101))

    names = [r["name"] for r in await ask(SearchProducts("MUG"))]
    assert names == ["Blue mug", "Red mug", "Travel mug"]
    assert [r["sku"] for r in await ask(SearchProducts("%"))] == ["pct"]  # literal %
    assert [r["sku"] for r in await ask(SearchProducts("n_t"))] == ["pct"]
    assert [r["sku"] for r in await ask(SearchProducts("tt_n"))] == []  # literal _
    assert await ask(SearchProducts("cork")) == []  # discontinued
    assert len(await ask(SearchProducts("e", limit=2))) == 2
    low = [(r["sku"], r["stock"]) for r in await ask(LowStock(3))]
    assert low == [("filter", 0), ("pct", 1), ("tea-black", 2), ("mug-red", 3)]


@pytest.mark.asyncio
async def test_the_apps_projection_rebuilds_while_queries_run(
    shop: App, place: ReadPlace, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/shop-events.db"
    assert make_app(store=url).read_model_url == f"sqlite:///{tmp_path}/shop-read.db"
    projection = Catalog(place.open())  # the same class, on the test's read model
    projection.batch_size = 2
    seen: list[int] = []
    stop = asyncio.Event()

    async def keep_querying() -> None:
        while not stop.is_set():
            seen.append((await shop.ask(ListProducts(page_size=100))).total)
            await asyncio.sleep(0)

    queries = asyncio.create_task(keep_querying())
    replayed = await projection.rebuild(shop.store)
    stop.set()
    await queries
    assert replayed == 12
    assert len(seen) > 3
    assert set(seen) == {12}
    assert await projection.lag(shop.store) == 0
    await projection.model.close()


async def _settled_order(shop: App, order_id: str) -> dict[str, object]:
    async with asyncio.timeout(20):
        while True:
            order = await shop.ask(GetOrder(order_id))
            if order is not None and order["status"] != "placed":
                return order
            await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_checkout_reserves_stock_through_the_bus_or_rejects(shop: App) -> None:
    await shop.dispatch(Checkout("o-1", "ann", (CartLine("teapot", 2), CartLine("spoon", 10))))
    await shop.dispatch(Checkout("o-2", "bob", (CartLine("mug-red", 4),)))  # only 3 left
    confirmed = await _settled_order(shop, "o-1")
    rejected = await _settled_order(shop, "o-2")
    assert confirmed["status"] == "confirmed"
    assert confirmed["total"] == 2 * 4500 + 10 * 250
    assert rejected["status"] == "rejected"
    await shop.settle()
    assert (await shop.ask(GetProduct("teapot")))["stock"] == 2  # type: ignore[index]
    assert (await shop.ask(GetProduct("spoon")))["stock"] == 90  # type: ignore[index]
    assert (await shop.ask(GetProduct("mug-red")))["stock"] == 3  # type: ignore[index]
    # the stock moved and the order was confirmed in one append: consecutive positions
    positions = {e.stream: e.position async for e in shop.store.read_all() if e.position > 12}
    moved = sorted(positions[s] for s in ("order-o-1", "product-teapot", "product-spoon"))
    assert moved == list(range(moved[0], moved[0] + 3))


@pytest.mark.asyncio
async def test_a_repeated_reservation_changes_nothing_and_bad_checkouts_are_refused(
    shop: App,
) -> None:
    await shop.dispatch(Checkout("o-3", "ann", (CartLine("kettle", 1),)))
    assert (await _settled_order(shop, "o-3"))["status"] == "confirmed"
    head = await shop.store.last_position()
    assert await shop.dispatch(ReserveStock("o-3")) == "confirmed"  # a redelivery, say
    assert await shop.store.last_position() == head
    with pytest.raises(OrderExists):
        await shop.dispatch(Checkout("o-3", "ann", (CartLine("kettle", 1),)))
    with pytest.raises(ValidationError):
        await shop.dispatch(Checkout("o-4", "ann", ()))
    with pytest.raises(AggregateNotFoundError):
        await shop.dispatch(Checkout("o-5", "ann", (CartLine("ladle", 1),)))
    await shop.dispatch(DiscontinueProduct("grinder", "gone"), metadata=META)
    with pytest.raises(ProductUnavailable):
        await shop.dispatch(Checkout("o-6", "ann", (CartLine("grinder", 1),)))
