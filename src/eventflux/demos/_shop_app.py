"""The shop demo's application: commands, the catalogue read model, its queries.

Commands change :class:`Product` aggregates; the ``shop-catalog`` projection
keeps a ``products`` table in its own SQLite file (``shop-read.db``); queries
read only that table: one product, a page of products, a name search, the
products running low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from ..cqrs import (
    CommandBus,
    Projection,
    QueryBus,
    SQLiteReadModel,
    SQLiteTransaction,
    handles,
    logging_middleware,
    validation_middleware,
)
from ..es import Repository
from ..events import RecordedEvent
from ..store import EventStore
from ._shop_domain import (
    PriceChanged,
    Product,
    ProductAdded,
    ProductDiscontinued,
    ProductExists,
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


class Catalog(Projection[SQLiteTransaction]):
    """The ``products`` table the shop's queries read."""

    name = "shop-catalog"

    def create_schema(self, tx: SQLiteTransaction) -> None:
        tx.script(
            """
            CREATE TABLE products (
                sku TEXT PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL,
                stock INTEGER NOT NULL, discontinued INTEGER NOT NULL DEFAULT 0,
                updated_at TEXT NOT NULL);
            CREATE INDEX products_by_name ON products (name COLLATE NOCASE);
            CREATE INDEX products_by_stock ON products (stock) WHERE discontinued = 0;
            """
        )

    @handles
    def added(self, event: ProductAdded, tx: SQLiteTransaction, e: RecordedEvent) -> None:
        tx.execute(
            "INSERT INTO products (sku, name, price, stock, updated_at) VALUES (?, ?, ?, ?, ?)",
            (event.sku, event.name, event.price, event.stock, e.recorded_at.isoformat()),
        )

    def _set(self, tx: SQLiteTransaction, e: RecordedEvent, assignment: str, value: int) -> None:
        tx.execute(
            f"UPDATE products SET {assignment}, updated_at = ? WHERE sku = ?",
            (value, e.recorded_at.isoformat(), e.stream.removeprefix("product-")),
        )

    @handles
    def priced(self, event: PriceChanged, tx: SQLiteTransaction, e: RecordedEvent) -> None:
        self._set(tx, e, "price = ?", event.new_price)

    @handles
    def stocked(self, event: StockAdjusted, tx: SQLiteTransaction, e: RecordedEvent) -> None:
        self._set(tx, e, "stock = stock + ?", event.delta)

    @handles
    def gone(self, event: ProductDiscontinued, tx: SQLiteTransaction, e: RecordedEvent) -> None:
        self._set(tx, e, "discontinued = ?", 1)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Shop:
    """The shop application: command bus, query bus, repository, catalogue projection."""

    def __init__(self, store: EventStore, model: SQLiteReadModel) -> None:
        self.store = store
        self.model = model
        self.products = Repository(store, Product, cache_size=1000)
        self.catalog = Catalog(model)
        middleware = [logging_middleware(), validation_middleware()]
        self.commands = CommandBus(middleware=middleware)
        self.queries = QueryBus(middleware=middleware)
        c, q = self.commands, self.queries
        c.register(AddProduct, self.add_product)
        c.register(ChangePrice, self.change_price)
        c.register(AdjustStock, self.adjust_stock)
        c.register(DiscontinueProduct, self.discontinue)
        q.register(GetProduct, self.get_product)
        q.register(ListProducts, self.list_products)
        q.register(SearchProducts, self.search)
        q.register(LowStock, self.low_stock)

    # -- command handlers -----------------------------------------------------------
    async def add_product(self, command: AddProduct) -> None:
        if await self.products.exists(command.sku):
            raise ProductExists(f"a product with SKU {command.sku!r} exists already")
        product = Product.add(command.sku, command.name, command.price, command.stock)
        await self.products.save(product)

    async def change_price(self, command: ChangePrice) -> None:
        await self.products.update(command.sku, lambda p: p.change_price(command.price))

    async def adjust_stock(self, command: AdjustStock) -> int:
        def adjust(product: Product) -> int:
            product.adjust_stock(command.delta, command.reason)
            return product.stock

        return await self.products.update(command.sku, adjust)

    async def discontinue(self, command: DiscontinueProduct) -> None:
        await self.products.update(command.sku, lambda p: p.discontinue(command.reason))

    # -- query handlers (read model only) ---------------------------------------------
    def get_product(self, query: GetProduct) -> dict[str, Any] | None:
        return self.model.fetch_one(f"SELECT {COLUMNS} FROM products WHERE sku = ?", (query.sku,))

    def list_products(self, query: ListProducts) -> Page:
        where = "" if query.include_discontinued else "WHERE discontinued = 0"
        with self.model.snapshot() as db:  # the page and the total from one state
            items = db.fetch_all(
                f"SELECT {COLUMNS} FROM products {where} "
                "ORDER BY name COLLATE NOCASE, sku LIMIT ? OFFSET ?",
                (query.page_size, (query.page - 1) * query.page_size),
            )
            total = db.fetch_value(f"SELECT count(*) FROM products {where}")
        return Page(items, query.page, query.page_size, int(total))

    def search(self, query: SearchProducts) -> list[dict[str, Any]]:
        return self.model.fetch_all(
            f"SELECT {COLUMNS} FROM products WHERE name LIKE ? ESCAPE '\\' "
            "AND discontinued = 0 ORDER BY name COLLATE NOCASE LIMIT ?",
            (_like(query.text), query.limit),
        )

    def low_stock(self, query: LowStock) -> list[dict[str, Any]]:
        return self.model.fetch_all(
            f"SELECT {COLUMNS} FROM products WHERE discontinued = 0 AND stock <= ? "
            "ORDER BY stock, sku",
            (query.threshold,),
        )

    async def settle(self) -> None:
        """Wait until the catalogue shows every stored event."""
        await self.catalog.wait_for(await self.store.last_position())
