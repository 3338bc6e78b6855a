"""The vocabulary of orders: sides, kinds, time in force, self-trade
prevention modes, and the refusals of cancels and amends.

Plain strings (``"buy"``, ``"gtc"``...) travel in events and JSON as they
are; the tuples here say which values are valid.

Example::

    assert "fok" in TIME_IN_FORCE and "decrement" in STP_MODES
"""

from __future__ import annotations

from typing import Final, Literal

from ...es import DomainError

__all__ = [
    "BUY",
    "EXPIRE_BOTH",
    "EXPIRE_MAKER",
    "EXPIRE_TAKER",
    "DECREMENT",
    "FOK",
    "GTC",
    "IOC",
    "KINDS",
    "LIMIT",
    "MARKET",
    "SELL",
    "SIDES",
    "STP_MODES",
    "TIME_IN_FORCE",
    "Kind",
    "OrderError",
    "Side",
    "StpMode",
    "TimeInForce",
    "TradingHaltedError",
    "UnknownOrderError",
]

BUY: Final = "buy"
SELL: Final = "sell"
LIMIT: Final = "limit"
MARKET: Final = "market"
GTC: Final = "gtc"
IOC: Final = "ioc"
FOK: Final = "fok"
EXPIRE_TAKER: Final = "expire_taker"
EXPIRE_MAKER: Final = "expire_maker"
EXPIRE_BOTH: Final = "expire_both"
DECREMENT: Final = "decrement"

Side = Literal["buy", "sell"]
Kind = Literal["limit", "market"]
TimeInForce = Literal["gtc", "ioc", "fok"]
StpMode = Literal["expire_taker", "expire_maker", "expire_both", "decrement"]

SIDES: Final = (BUY, SELL)
KINDS: Final = (LIMIT, MARKET)
#: good till cancelled, immediate or cancel, fill or kill
TIME_IN_FORCE: Final = (GTC, IOC, FOK)
#: what happens when an order would trade with an order of the same account
STP_MODES: Final = (EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, DECREMENT)


class OrderError(DomainError, ValueError):
    """A cancel or amend that the book refuses (the message says why)."""


class UnknownOrderError(OrderError, LookupError):
    """No open order with that id (for that account): filled, cancelled or never there."""


class TradingHaltedError(OrderError):
    """The symbol is halted: orders and amends are refused until it resumes."""
