"""A delivery of the SQLite bus: the leased row and the lease itself.

A lease is the pair (``owner``, ``lease``): the member's owner token and the
row's hand-out count when it was fetched (it only grows). Every settle matches
both, so a settle after the lease was lost (it expired and another member
fetched the row) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import Delivery

__all__ = ["SQLiteDelivery"]


@dataclass(slots=True, eq=False)
class SQLiteDelivery(Delivery):
    """One leased row of ``bus_queue``."""

    row_id: int
    owner: str
    lease: int
    letter_id: str | None
