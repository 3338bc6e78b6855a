"""The shop demo's App: commands, the catalogue read model, its queries.

Commands change :class:`Product` aggregates; the ``shop-catalog`` projection
keeps a ``products`` table in its own read model (a SQLite file,
``shop-read.db``, or a PostgreSQL schema: the same class and SQL run on
both); queries read only that table: one product, a page of products, a name
search, the products running low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import msgspec

from ...app import App, Context
from ...bus import Message
from ...cqrs import (
    Projection,
    Transaction,
    handles,
    logging_middleware,
    validation_middleware,
)
from ...es import AggregateNotFoundError, Repository, retry_on_conflict, save_together
from ...events import RecordedEvent
from ...store import EventStore
from .domain import (
    NotEnoughStock,
    Order,
    OrderExists,
    OrderLine,
    PriceChanged,
    Product,
    ProductAdded,
    ProductDiscontinued,
    ProductExists,
    ProductUnavailable,
    StockAdjusted,
)

Sku = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,32}$")]
Cents = Annotated[int, msgspec.Meta(gt=0)]


# -- commands ---------------------------------------------------------------------
@dataclass(frozen=True)
class AddProduct:
    sku: Sku
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    price: Cents
    stock: Annotated[int, msgspec.Meta(ge=0)] = 0


@dataclass(frozen=True)
class ChangePrice:
    sku: Sku
    price: Cents


@dataclass(frozen=True)
class AdjustStock:
    sku: Sku
    delta: int
    reason: str = "stock count"

    def validate(self) -> str | None:
        return "a stock adjustment must change something" if self.delta == 0 else None


@dataclass(frozen=True)
class DiscontinueProduct:
    sku: Sku
    reason: str = ""


@dataclass(frozen=True)
class CartLine:
    sku: Sku
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1000)]


@dataclass(frozen=True)
class Checkout:
    """Place an order; the stock service reserves it and confirms or rejects it."""

    order_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,40}$")]
    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    lines: Annotated[tuple[CartLine, ...], msgspec.Meta(min_length=1, max_length=50)]


@dataclass(frozen=True)
class ReserveStock:
    """Reserve an order's items: every product and the order change together."""

    order_id: str


# -- queries ----------------------------------------------------------------------
@dataclass(frozen=True)
class GetProduct:
    sku: str


@dataclass(frozen=True)
class ListProducts:
    page: Annotated[int, msgspec.Meta(ge=1)] = 1
    page_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    include_discontinued: bool = False


@dataclass(frozen=True)
class SearchProducts:
    text: Annotated[str, msgspec.Meta(min_length=1)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


@dataclass(frozen=True)
class GetOrder:
    order_id: str


@dataclass(frozen=True)
class LowStock:
    threshold: Annotated[int, msgspec.Meta(ge=0)] = 5


@dataclass(frozen=True)
class Page:
    """One page of a listing."""

    items: list[dict[str, Any]]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# -- the read model -----------------------------------------------------------------
COLUMNS = "sku, name, price, stock, discontinued"


class Catalog(Projection):
    """The ``products`` table the shop's queries read (portable SQL: SQLite or PostgreSQL)."""

    name = "shop-catalog"

    def create_schema(self, tx: Transaction) -> None:
        tx.script(
            """
            CREATE TABLE products (
                sku TEXT PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL,
                stock INTEGER NOT NULL, discontinued INTEGER NOT NULL DEFAULT 0,
                updated_at TEXT NOT NULL);
            CREATE INDEX products_by_name ON products (lower(name));
            CREATE INDEX products_by_stock ON products (stock) WHERE discontinued = 0;
            """
        )

    @handles
    def added(self, event: ProductAdded, tx: Transaction, e: RecordedEvent) -> None:
        tx.execute(
            "INSERT INTO products (sku, name, price, stock, updated_at) "
            "VALUES (:sku, :name, :price, :stock, :at)",
            {
                "sku": event.sku,
                "name": event.name,
                "price": event.price,
                "stock": event.stock,
                "at": e.recorded_at.isoformat(),
            },
        )

    def _set(self, tx: Transaction, e: RecordedEvent, assignment: str, value: int) -> None:
        tx.execute(
            f"UPDATE products SET {assignment}, updated_at = :at WHERE sku = :sku",
            {
                "value": value,
                "at": e.recorded_at.isoformat(),
                "sku": e.stream.removeprefix("product-"),
            },
        )

    @handles
    def priced(self, event: PriceChanged, tx: Transaction, e: RecordedEvent) -> None:
        self._set(tx, e, "price = :value", event.new_price)

    @handles
    def stocked(self, event: StockAdjusted, tx: Transaction, e: RecordedEvent) -> None:
        self._set(tx, e, "stock = stock + :value", event.delta)

    @handles
    def gone(self, event: ProductDiscontinued, tx: Transaction, e: RecordedEvent) -> None:
        self._set(tx, e, "discontinued = :value", 1)


def _like(text: str) -> str:
    """A case-insensitive LIKE pattern for ``text`` anywhere (its % and _ literal)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def make_app(
    *, store: str | None = None, bus: str | None = None, read_model: str | None = None
) -> App:
    """The shop as an :class:`~eventflux.App`: commands change products through
    a repository; the ``shop-catalog`` projection keeps the catalogue; queries
    read only the catalogue."""
    middleware = [logging_middleware(), validation_middleware()]
    app = App("shop", store=store, bus=bus, read_model=read_model, middleware=middleware)
    app.projection(Catalog)
    # event types are "shop.ProductAdded", "shop.OrderPlaced"...: the subject is the type
    app.relay(stream_prefix="product-", subject="{type}")
    app.relay(stream_prefix="order-", subject="{type}")
    repositories: WeakKeyDictionary[EventStore, Repository[Product]] = WeakKeyDictionary()
    order_repositories: WeakKeyDictionary[EventStore, Repository[Order]] = WeakKeyDictionary()

    def products(ctx: Context) -> Repository[Product]:
        repo = repositories.get(ctx.store)
        if repo is None:
            repo = repositories[ctx.store] = Repository(ctx.store, Product, cache_size=1000)
        return repo

    def orders(ctx: Context) -> Repository[Order]:
        repo = order_repositories.get(ctx.store)
        if repo is None:
            repo = order_repositories[ctx.store] = Repository(ctx.store, Order)
        return repo

    @app.command(Checkout)
    async def checkout(command: Checkout, ctx: Context) -> str:
        """Place the order at today's prices; stock is reserved by the stock service."""
        if await orders(ctx).exists(command.order_id):
            raise OrderExists(f"an order {command.order_id!r} exists already")
        lines = []
        for line in command.lines:
            product = await products(ctx).get(line.sku)
            if product.discontinued:
                raise ProductUnavailable(f"product {line.sku!r} is discontinued")
            lines.append(OrderLine(line.sku, line.quantity, product.price))
        await orders(ctx).save(Order.place(command.order_id, command.customer, tuple(lines)))
        return command.order_id

    @app.subscribe("shop.OrderPlaced", group="shop-stock")
    async def on_order_placed(msg: Message, ctx: Context) -> None:
        order_id = msg.headers.get("stream", "").removeprefix("order-")
        await ctx.dispatch(ReserveStock(order_id))

    @app.command(ReserveStock)
    async def reserve_stock(command: ReserveStock, ctx: Context) -> str:
        """Take the order's items out of stock and confirm it, in one transaction;
        reject it if an item is short. A redelivered request changes nothing."""

        async def attempt() -> str:
            order = await orders(ctx).get(command.order_id)
            if order.status != "placed":
                return order.status
            reserved = []
            try:
                for line in order.lines:
                    product = await products(ctx).get(line.sku)
                    product.adjust_stock(-line.quantity, f"order {order.id}")
                    reserved.append((products(ctx), product))
            except (NotEnoughStock, ProductUnavailable, AggregateNotFoundError) as e:
                order.reject(str(e))
                await orders(ctx).save(order)
                return order.status
            order.confirm()
            await save_together((orders(ctx), order), *reserved)
            return order.status

        status: str = await retry_on_conflict(attempt, retries=5)
        return status

    @app.command(AddProduct)
    async def add_product(command: AddProduct, ctx: Context) -> None:
        if await products(ctx).exists(command.sku):
            raise ProductExists(f"a product with SKU {command.sku!r} exists already")
        product = Product.add(command.sku, command.name, command.price, command.stock)
        await products(ctx).save(product)

    @app.command(ChangePrice)
    async def change_price(command: ChangePrice, ctx: Context) -> None:
        await products(ctx).update(command.sku, lambda p: p.change_price(command.price))

    @app.command(AdjustStock)
    async def adjust_stock(command: AdjustStock, ctx: Context) -> int:
        def adjust(product: Product) -> int:
            product.adjust_stock(command.delta, command.reason)
            return product.stock

        return await products(ctx).update(command.sku, adjust)

    @app.command(DiscontinueProduct)
    async def discontinue(command: DiscontinueProduct, ctx: Context) -> None:
        await products(ctx).update(command.sku, lambda p: p.discontinue(command.reason))

    @app.query(GetProduct)
    async def get_product(query: GetProduct, ctx: Context) -> dict[str, Any] | None:
        return await ctx.read_model.fetch_one(
            f"SELECT {COLUMNS} FROM products WHERE sku = :sku", {"sku": query.sku}
        )

    @app.query(ListProducts)
    async def list_products(query: ListProducts, ctx: Context) -> Page:
        where = "" if query.include_discontinued else "WHERE discontinued = 0"
        async with ctx.read_model.snapshot() as db:  # the page and the total from one state
            items = await db.fetch_all(
                f"SELECT {COLUMNS} FROM products {where} "
                "ORDER BY lower(name), sku LIMIT :limit OFFSET :offset",
                {"limit": query.page_size, "offset": (query.page - 1) * query.page_size},
            )
            total = await db.fetch_value(f"SELECT count(*) FROM products {where}")
        return Page(items, query.page, query.page_size, int(total))

    @app.query(SearchProducts)
    async def search(query: SearchProducts, ctx: Context) -> list[dict[str, Any]]:
        return await ctx.read_model.fetch_all(
            f"SELECT {COLUMNS} FROM products WHERE lower(name) LIKE :pattern ESCAPE '\\' "
            "AND discontinued = 0 ORDER BY lower(name), sku LIMIT :limit",
            {"pattern": _like(query.text), "limit": query.limit},
        )

    @app.query(GetOrder)
    async def get_order(query: GetOrder, ctx: Context) -> dict[str, Any] | None:
        if not await orders(ctx).exists(query.order_id):
            return None
        order = await orders(ctx).get(query.order_id)
        return {
            "order_id": order.id,
            "customer": order.customer,
            "status": order.status,
            "total": order.total,
            "lines": [{"sku": x.sku, "quantity": x.quantity} for x in order.lines],
        }

    @app.query(LowStock)
    async def low_stock(query: LowStock, ctx: Context) -> list[dict[str, Any]]:
        return await ctx.read_model.fetch_all(
            f"SELECT {COLUMNS} FROM products WHERE discontinued = 0 AND stock <= :threshold "
            "ORDER BY stock, sku",
            {"threshold": query.threshold},
        )

    return app
