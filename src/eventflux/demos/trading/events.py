"""The trading demo's events: what happened to a book, an account, a symbol.

Every accepted order, fill, cancel, amend and halt of a symbol is an event of
that symbol's book stream (``trading-book-<SYMBOL>``); deposits are events of
the account's stream (``trading-account-<id>``). Prices are integer price
units (cents), never floats; quantities are integer shares. Type names are
prefixed with ``trading.`` so they never clash with other demos sharing the
process-wide codec.

Example::

    OrderAccepted(order_id="ACME-1", sequence=1, client_order_id="c1", account="ann",
                  side="buy", kind="limit", price=10_000, quantity=10, tif="gtc",
                  post_only=False, stp="expire_taker")
"""

from __future__ import annotations

import msgspec

from ...codec import register_event

__all__ = [
    "AccountFunded",
    "BOOK_EVENTS",
    "BookEvent",
    "BookOpened",
    "OrderAccepted",
    "OrderAmended",
    "OrderCancelled",
    "OrderReduced",
    "OrderRejected",
    "QuoteChanged",
    "TradeExecuted",
    "TradingHalted",
    "TradingResumed",
]


@register_event("trading.BookOpened")
class BookOpened(msgspec.Struct, frozen=True):
    """A symbol's book opened: its tick and lot sizes and reference price."""

    symbol: str
    tick_size: int
    lot_size: int
    reference_price: int


@register_event("trading.OrderAccepted")
class OrderAccepted(msgspec.Struct, frozen=True):
    """An order passed validation and the risk check and entered matching.

    A good-till-cancelled limit order joins the back of its price level now;
    the fills and cancels after it in the stream say what became of it.
    ``price`` is None for a market order.
    """

    order_id: str
    sequence: int
    client_order_id: str
    account: str
    side: str  # "buy" | "sell"
    kind: str  # "limit" | "market"
    price: int | None
    quantity: int
    tif: str  # "gtc" | "ioc" | "fok"
    post_only: bool
    stp: str  # "expire_taker" | "expire_maker" | "expire_both" | "decrement"


@register_event("trading.OrderRejected")
class OrderRejected(msgspec.Struct, frozen=True):
    """An order refused before matching (validation, risk, halt, post-only)."""

    client_order_id: str
    account: str
    side: str
    kind: str
    price: int | None
    quantity: int
    reason: str


@register_event("trading.TradeExecuted")
class TradeExecuted(msgspec.Struct, frozen=True):
    """A fill: the taker traded ``quantity`` at the maker's ``price``."""

    trade_id: int
    taker_order_id: str
    maker_order_id: str
    taker_account: str
    maker_account: str
    taker_side: str
    price: int
    quantity: int


@register_event("trading.OrderCancelled")
class OrderCancelled(msgspec.Struct, frozen=True):
    """An order left the book (or never rested): ``quantity`` open shares gone.

    ``reason``: ``"cancelled"`` (its owner asked), ``"ioc"`` (the unfilled
    rest of an immediate-or-cancel or market order), ``"fok"`` (a fill-or-kill
    order that could not fill whole), ``"self-trade"`` (self-trade prevention).
    """

    order_id: str
    account: str
    quantity: int
    reason: str


@register_event("trading.OrderReduced")
class OrderReduced(msgspec.Struct, frozen=True):
    """Self-trade prevention (decrement) took ``quantity`` off an order without
    trading; an order reduced to nothing leaves the book."""

    order_id: str
    account: str
    quantity: int
    reason: str


@register_event("trading.OrderAmended")
class OrderAmended(msgspec.Struct, frozen=True):
    """A resting order's price or open quantity changed.

    ``priority_kept``: a lower quantity at the same price keeps the order's
    place; anything else sends it to the back of its (new) level, where it
    may trade at once like a new order (the fills follow this event).
    """

    order_id: str
    account: str
    price: int
    quantity: int
    priority_kept: bool


@register_event("trading.QuoteChanged")
class QuoteChanged(msgspec.Struct, frozen=True):
    """The best bid and ask (and their sizes) after a batch of orders."""

    symbol: str
    bid: int | None
    bid_size: int
    ask: int | None
    ask_size: int
    last: int | None


@register_event("trading.TradingHalted")
class TradingHalted(msgspec.Struct, frozen=True):
    """The symbol's circuit breaker opened: new orders are refused until it resumes."""

    symbol: str
    reason: str
    reference_price: int
    price: int
    move_bps: int
    cooldown_seconds: float


@register_event("trading.TradingResumed")
class TradingResumed(msgspec.Struct, frozen=True):
    """The cooldown passed: the symbol accepts orders again."""

    symbol: str
    reason: str


@register_event("trading.AccountFunded")
class AccountFunded(msgspec.Struct, frozen=True):
    """Cash (price units) and shares put into an account (the first one opens it)."""

    account: str
    cash: int
    positions: dict[str, int] = msgspec.field(default_factory=dict)


BookEvent = (
    BookOpened
    | OrderAccepted
    | OrderRejected
    | TradeExecuted
    | OrderCancelled
    | OrderReduced
    | OrderAmended
    | QuoteChanged
    | TradingHalted
    | TradingResumed
)

#: the classes of a book stream's events
BOOK_EVENTS: tuple[type[msgspec.Struct], ...] = (
    BookOpened,
    OrderAccepted,
    OrderRejected,
    TradeExecuted,
    OrderCancelled,
    OrderReduced,
    OrderAmended,
    QuoteChanged,
    TradingHalted,
    TradingResumed,
)
