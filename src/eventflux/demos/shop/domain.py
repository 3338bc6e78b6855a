"""The shop demo's domain: product events, the Product aggregate, its refusals.

Event type names are prefixed with ``shop.`` so they never clash with other
demos sharing the process-wide codec. Prices are in cents.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...codec import register_event
from ...es import Aggregate, DomainError, apply

__all__ = [
    "InvalidPrice",
    "NotEnoughStock",
    "Order",
    "OrderConfirmed",
    "OrderExists",
    "OrderLine",
    "OrderPlaced",
    "OrderRejected",
    "PriceChanged",
    "Product",
    "ProductAdded",
    "ProductDiscontinued",
    "ProductExists",
    "ProductUnavailable",
    "StockAdjusted",
]


@register_event("shop.ProductAdded")
@dataclass(frozen=True, slots=True)
class ProductAdded:
    sku: str
    name: str
    price: int
    stock: int


@register_event("shop.PriceChanged")
@dataclass(frozen=True, slots=True)
class PriceChanged:
    old_price: int
    new_price: int


@register_event("shop.StockAdjusted")
@dataclass(frozen=True, slots=True)
class StockAdjusted:
    delta: int
    reason: str


@register_event("shop.ProductDiscontinued")
@dataclass(frozen=True, slots=True)
class ProductDiscontinued:
    reason: str


class InvalidPrice(DomainError, ValueError):
    """A price that is zero or negative."""


class NotEnoughStock(DomainError):
    """A stock adjustment that would leave fewer than zero items."""


class ProductExists(DomainError):
    """A product added with a SKU that is taken."""


class ProductUnavailable(DomainError):
    """A change to a discontinued product."""


class OrderExists(DomainError):
    """An order placed with an id that is taken."""


class Product(Aggregate):
    """A catalogue product: priced, stocked, possibly discontinued."""

    stream_prefix = "product"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.name = ""
        self.price = 0
        self.stock = 0
        self.discontinued = False

    @classmethod
    def add(cls, sku: str, name: str, price: int, stock: int = 0) -> Product:
        if price <= 0:
            raise InvalidPrice(f"the price of {sku!r} must be positive, got {price}")
        if stock < 0:
            raise NotEnoughStock(f"a new product cannot start with {stock} items")
        product = cls(sku)
        product.record(ProductAdded(sku, name, price, stock))
        return product

    def _check_available(self) -> None:
        if self.discontinued:
            raise ProductUnavailable(f"product {self.id!r} ({self.name}) is discontinued")

    def change_price(self, price: int) -> None:
        self._check_available()
        if price <= 0:
            raise InvalidPrice(f"the price of {self.id!r} must be positive, got {price}")
        if price != self.price:
            self.record(PriceChanged(self.price, price))

    def adjust_stock(self, delta: int, reason: str) -> None:
        self._check_available()
        if self.stock + delta < 0:
            raise NotEnoughStock(
                f"product {self.id!r} has {self.stock} items; cannot remove {-delta}"
            )
        self.record(StockAdjusted(delta, reason))

    def discontinue(self, reason: str) -> None:
        self._check_available()
        self.record(ProductDiscontinued(reason))

    @apply
    def _added(self, event: ProductAdded) -> None:
        self.name, self.price, self.stock = event.name, event.price, event.stock

    @apply
    def _priced(self, event: PriceChanged) -> None:
        self.price = event.new_price

    @apply
    def _stocked(self, event: StockAdjusted) -> None:
        self.stock += event.delta

    @apply
    def _discontinued(self, event: ProductDiscontinued) -> None:
        self.discontinued = True


# -- orders (the checkout) ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    price: int  # cents, at the time of the order


@register_event("shop.OrderPlaced")
@dataclass(frozen=True, slots=True)
class OrderPlaced:
    customer: str
    lines: tuple[OrderLine, ...]


@register_event("shop.OrderConfirmed")
@dataclass(frozen=True, slots=True)
class OrderConfirmed:
    total: int  # cents


@register_event("shop.OrderRejected")
@dataclass(frozen=True, slots=True)
class OrderRejected:
    reason: str


class Order(Aggregate):
    """A customer's order: placed, then confirmed once its stock is reserved, or rejected."""

    stream_prefix = "order"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.customer = ""
        self.lines: tuple[OrderLine, ...] = ()
        self.status = "new"

    @classmethod
    def place(cls, order_id: str, customer: str, lines: tuple[OrderLine, ...]) -> Order:
        if not lines:
            raise DomainError(f"order {order_id!r} has no lines")
        order = cls(order_id)
        order.record(OrderPlaced(customer, lines))
        return order

    @property
    def total(self) -> int:
        return sum(line.quantity * line.price for line in self.lines)

    def confirm(self) -> None:
        if self.status == "placed":
            self.record(OrderConfirmed(self.total))

    def reject(self, reason: str) -> None:
        if self.status == "placed":
            self.record(OrderRejected(reason))

    @apply
    def _placed(self, event: OrderPlaced) -> None:
        self.customer, self.lines, self.status = event.customer, event.lines, "placed"

    @apply
    def _confirmed(self, event: OrderConfirmed) -> None:
        self.status = "confirmed"

    @apply
    def _rejected(self, event: OrderRejected) -> None:
        self.status = "rejected"
