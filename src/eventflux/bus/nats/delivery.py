"""A delivery of the NATS bus: the JetStream message and what the member knows
about it.

Delivery counts: JetStream counts deliveries itself (``nd``, the
``num_delivered`` of the latest delivery). When a delivery must not count (a
release, a circuit-breaker refusal) or a keyed message is retried in the
member without the server, the difference is kept in the meta stream
(``adj.<group id>.<seq>``, :class:`~.context.NatsContext`) and read back when
the message is delivered again: the attempt is ``nd + saved``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..backend import Delivery

__all__ = ["DeliveryState", "NatsDelivery"]


class DeliveryState(IntEnum):
    """Where a message a member received is."""

    GONE = -1
    """Settled or given back."""
    BUFFERED = 0
    """Received, not handed to the runtime yet."""
    OUT = 1
    """Handed to the runtime (running, or held there behind its key or for a retry)."""


@dataclass(slots=True, eq=False)
class NatsDelivery(Delivery):
    """One message a member received and has not settled."""

    msg: Any  #: the client's message (its reply subject acks it)
    lane: int  #: -1 for the unkeyed consumer, else the key partition
    seq: int  #: stream sequence
    nd: int  #: the server's delivery count of the latest delivery
    saved: int  #: the delivery-count adjustment stored in the meta stream
    letter: str | None  #: the dead letter a retried message comes from
    state: DeliveryState = DeliveryState.BUFFERED
