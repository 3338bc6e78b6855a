"""The trading App's commands and queries (validated by the App's middleware).

Example::

    await app.dispatch(FundAccount("ann", 1_000_000_00, {"ACME": 500}))
    ack = await app.dispatch(SubmitOrder("ann", "ACME", "buy", 10, 100_00,
                                         client_order_id="ann-1"))
    book = await app.ask(GetBook("ACME"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "AmendOrder",
    "CancelOrder",
    "FundAccount",
    "GetBook",
    "GetBookAsOf",
    "GetHalts",
    "GetOpenOrders",
    "GetOrder",
    "GetPortfolio",
    "GetPrices",
    "GetTape",
    "ListPortfolios",
    "SubmitOrder",
]

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{1,12}$")]
Shares = Annotated[int, msgspec.Meta(gt=0)]
Price = Annotated[int, msgspec.Meta(gt=0)]


# -- commands ---------------------------------------------------------------------
@dataclass(frozen=True)
class FundAccount:
    """Put cash (price units: cents) and shares into an account (opening it)."""

    account: Name
    cash: Annotated[int, msgspec.Meta(ge=0)]
    positions: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitOrder:
    """A new order. Without ``price`` it is a market order. Resubmitting the same
    ``client_order_id`` (after a timeout, say) answers the first order's
    acknowledgement with ``duplicate=True`` and never creates a second one."""

    account: Name
    symbol: Symbol
    side: Literal["buy", "sell"]
    quantity: Shares
    price: Price | None = None
    tif: Literal["gtc", "ioc", "fok"] = "gtc"
    post_only: bool = False
    stp: Literal["expire_taker", "expire_maker", "expire_both", "decrement"] = "expire_taker"
    client_order_id: Annotated[str, msgspec.Meta(max_length=64)] = ""


@dataclass(frozen=True)
class CancelOrder:
    account: Name
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


@dataclass(frozen=True)
class AmendOrder:
    """Change an open order's open quantity and/or price (see ``OrderBook.amend``)."""

    account: Name
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    quantity: Shares | None = None
    price: Price | None = None

    def validate(self) -> str | None:
        if self.quantity is None and self.price is None:
            return "an amend changes the quantity, the price or both"
        return None


# -- queries ----------------------------------------------------------------------
@dataclass(frozen=True)
class GetBook:
    """Depth of a symbol's book: its best ``levels`` on each side, and its state."""

    symbol: str
    levels: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


@dataclass(frozen=True)
class GetBookAsOf:
    """The book as it stood at an earlier time, replayed from its stream."""

    symbol: str
    as_of: datetime
    levels: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10


@dataclass(frozen=True)
class GetTape:
    """The latest trades of a symbol, newest first."""

    symbol: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


@dataclass(frozen=True)
class GetPrices:
    """Recent trade prices of a symbol (for the chart), oldest first."""

    symbol: str
    limit: Annotated[int, msgspec.Meta(ge=1, le=600)] = 300


@dataclass(frozen=True)
class GetOrder:
    """One order of an account, by order id or client order id."""

    account: str
    order_id: str = ""
    client_order_id: str = ""


@dataclass(frozen=True)
class GetOpenOrders:
    account: str
    symbol: str = ""


@dataclass(frozen=True)
class GetPortfolio:
    """Cash, positions, realised and unrealised P&L of an account (read model)."""

    account: str


@dataclass(frozen=True)
class ListPortfolios:
    pass


@dataclass(frozen=True)
class GetHalts:
    """Each symbol's halt state and its circuit breaker."""
