"""A delivery of the NATS bus: the JetStream message and what the member knows
about it.

Attempts: JetStream counts hand-outs itself (``nd``, the ``num_delivered``
of the latest delivery), lost ones included (a delivery in flight during a
failover). The bus counts handler runs instead, in the meta stream
(``run.<group id>.<seq>``, :class:`~.context.NatsContext`): recorded before
the handler of a redelivered message starts, and when a failed run is given
back; a first run of a first hand-out writes nothing (the happy path). A
delivery's attempt is ``saved + 1``, ``saved`` being the recorded runs (read
back when ``nd > 1``), so a delivery lost before its handler started never
uses up ``max_deliver``.
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
    saved: int  #: the handler runs recorded in the meta stream
    letter: str | None  #: the dead letter a retried message comes from
    state: DeliveryState = DeliveryState.BUFFERED
