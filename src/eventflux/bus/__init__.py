"""Message bus: the port and ``open_bus(url)``, which picks a backend by URL scheme.

Schemes: ``memory://`` (a fresh in-process bus each call),
``sqlite:///relative.db`` / ``sqlite:////absolute.db`` (embedded, durable,
shared by the processes of one machine) and ``nats://host:4222`` (NATS
JetStream, the ``nats`` extra). Options go in the query string, e.g.
``sqlite:///bus.db?dedup_window=300&durability=normal``.

Example::

    async with await open_bus("sqlite:///bus.db") as bus:
        @bus.subscribe("orders.created", group="payments")
        async def charge(msg: Message) -> None: ...

        await bus.publish("orders.created", {"id": 1}, msg_id="order-1")
"""

from __future__ import annotations

from typing import Any

from .._internal.urls import Backends, resolve_backend
from ..codec import Codec
from ..exceptions import BusUnavailableError, CircuitOpenError, DeadLetterNotFoundError
from ..signals import AlreadyHandled, Reject
from .base import DEFAULT_DEDUP_WINDOW, Handler, MessageBus, Subscription
from .dlq import DeadLetterQueue
from .message import DeadLetter, Delivery, Envelope, Message, OutgoingMessage
from .subjects import matches, validate_group, validate_subject

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "AlreadyHandled",
    "BusUnavailableError",
    "CircuitOpenError",
    "DeadLetter",
    "DeadLetterNotFoundError",
    "DeadLetterQueue",
    "Delivery",
    "Envelope",
    "Handler",
    "Message",
    "MessageBus",
    "OutgoingMessage",
    "Reject",
    "Subscription",
    "matches",
    "open_bus",
    "validate_group",
    "validate_subject",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: Backends = {
    "memory": ("eventflux.bus.memory", "MemoryBus", None, None),
    "sqlite": ("eventflux.bus.sqlite", "SQLiteBus", None, None),
    "nats": ("eventflux.bus.nats", "NatsBus", "nats", "nats"),
}


async def open_bus(url: str, *, codec: Codec | None = None, **settings: Any) -> MessageBus:
    """Open the message bus named by ``url``; it is also an async context manager.

    Example::

        bus = await open_bus("memory://")
        async with await open_bus("sqlite:///bus.db?dedup_window=60") as bus: ...
    """
    cls, parts, options = resolve_backend(url, _BACKENDS, "message bus")
    bus: MessageBus = await cls._open(parts, options, codec=codec, **settings)
    return bus
