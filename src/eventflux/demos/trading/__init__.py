"""Demo: the founding document's stock trading platform, as an exchange in miniature.

An event-sourced order book per symbol with price-time priority (every
accepted order, fill and cancel is an event, so a book can be rebuilt and
audited), a pre-trade risk check, portfolios and P&L kept by a projection,
market data on the bus, and circuit breakers that halt a symbol on a violent
move.

``eventflux.demos.trading:app`` is the App (``eventflux serve`` runs it, with
its page at ``/demos/trading/`` and the market simulator); :func:`make_app`
builds one on other URLs or settings; :func:`run` is the scripted day of
``eventflux demo trading``. The matching core is
:class:`~eventflux.demos.trading.book.OrderBook`.
"""

from __future__ import annotations

from .app import DEFAULT_LISTINGS, make_app, market_subject
from .book import OrderBook
from .messages import (
    AmendOrder,
    CancelOrder,
    FundAccount,
    GetBook,
    GetBookAsOf,
    GetHalts,
    GetOpenOrders,
    GetOrder,
    GetPortfolio,
    GetPrices,
    GetTape,
    ListPortfolios,
    SubmitOrder,
)
from .portfolio import Portfolios
from .scenario import TITLE, run
from .state import Listing, OrderAck

__all__ = [
    "DEFAULT_LISTINGS",
    "TITLE",
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
    "Listing",
    "ListPortfolios",
    "OrderAck",
    "OrderBook",
    "Portfolios",
    "SubmitOrder",
    "app",
    "make_app",
    "market_subject",
    "run",
]

#: The trading App on the default URLs ($EVENTFLUX_STORE / $EVENTFLUX_BUS, else
#: SQLite files), with the market simulator running.
app = make_app()
