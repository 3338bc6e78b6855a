"""Message bus: the facade users call, ``open_bus(url)`` which picks a backend by
URL scheme, and the value types.

Schemes: ``memory://`` (a fresh in-process bus each call),
``sqlite:///relative.db`` / ``sqlite:////absolute.db`` (embedded, durable,
shared by the processes of one machine) and ``nats://host:4222`` (NATS
JetStream, the ``nats`` extra). Options go in the query string, e.g.
``sqlite:///bus.db?dedup_window=300&durability=normal``.

The layout: :mod:`.facade` (:class:`MessageBus`), :mod:`.backend` (the public
backend interface), :mod:`.consumer`, :mod:`.handling`, :mod:`.watchdog`,
:mod:`.draining` and :mod:`.observe` (the consumer runtime every backend
shares: runs, timeouts, closing, logs, metrics and traces), :mod:`.dlq`,
:mod:`.outbox`, the message types and rules (:mod:`.message`,
:mod:`.subjects`, :mod:`.subscription`, :mod:`.envelopes`), and one folder
per backend: ``memory/``, ``sqlite/``, ``nats/``.

Example::

    async with await open_bus("sqlite:///bus.db") as bus:
        @bus.subscribe("orders.created", group="payments")
        async def charge(msg: Message) -> None: ...

        await bus.publish("orders.created", {"id": 1}, msg_id="order-1")
"""

from __future__ import annotations

from .._internal.urls import Backends, resolve_backend
from ..codec import Codec
from ..exceptions import (
    BusUnavailableError,
    CircuitOpenError,
    DeadLetterNotFoundError,
    HandlerTimeoutError,
)
from ..signals import AlreadyHandled, Reject
from .backend import (
    DEFAULT_DEDUP_WINDOW,
    BusBackend,
    Delivery,
    Envelope,
    GroupStats,
    KeyOrder,
    MemberHandle,
    Revoke,
    StoredLetter,
)
from .dlq import DeadLetterQueue
from .facade import MessageBus
from .message import DeadLetter, GroupInfo, Message, OutgoingMessage
from .subjects import matches, validate_group, validate_subject
from .subscription import MessageHandler, Subscription

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "AlreadyHandled",
    "BusBackend",
    "BusUnavailableError",
    "CircuitOpenError",
    "DeadLetter",
    "DeadLetterNotFoundError",
    "DeadLetterQueue",
    "Delivery",
    "Envelope",
    "GroupInfo",
    "GroupStats",
    "HandlerTimeoutError",
    "KeyOrder",
    "MemberHandle",
    "Message",
    "MessageBus",
    "MessageHandler",
    "OutgoingMessage",
    "Reject",
    "Revoke",
    "StoredLetter",
    "Subscription",
    "matches",
    "open_bus",
    "validate_group",
    "validate_subject",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: Backends = {
    "memory": ("eventflux.bus.memory", "MemoryBusBackend", None, None),
    "sqlite": ("eventflux.bus.sqlite", "SQLiteBusBackend", None, None),
    "nats": ("eventflux.bus.nats", "NatsBusBackend", "nats", "nats"),
}


async def open_bus(url: str, *, codec: Codec | None = None) -> MessageBus:
    """Open the message bus named by ``url``; it is also an async context manager.

    ``codec`` encodes published payloads (default: the process-wide
    :data:`~eventflux.default_codec`).

    Example::

        bus = await open_bus("memory://")
        async with await open_bus("sqlite:///bus.db?dedup_window=60") as bus: ...
    """
    cls, parts, options = resolve_backend(url, _BACKENDS, "message bus")
    backend: BusBackend = await cls.open(parts, options)
    return MessageBus(backend, codec=codec)
