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

import importlib
from typing import Any

from ..codec import Codec
from ..exceptions import ConfigurationError, MissingExtraError
from ..store import parse_url
from .base import DEFAULT_DEDUP_WINDOW, Handler, MessageBus, Subscription
from .dlq import DeadLetterQueue
from .errors import AlreadyHandled, BusUnavailableError, CircuitOpenError, DeadLetterNotFound
from .message import DeadLetter, Delivery, Envelope, Message, OutgoingMessage
from .subjects import matches, validate_group, validate_subject

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "AlreadyHandled",
    "BusUnavailableError",
    "CircuitOpenError",
    "DeadLetter",
    "DeadLetterNotFound",
    "DeadLetterQueue",
    "Delivery",
    "Envelope",
    "Handler",
    "Message",
    "MessageBus",
    "OutgoingMessage",
    "Subscription",
    "matches",
    "open_bus",
    "validate_group",
    "validate_subject",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: dict[str, tuple[str, str, str | None, str | None]] = {
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
    parts, options = parse_url(url)
    scheme = parts.scheme.lower()
    spec = _BACKENDS.get(scheme)
    if spec is None:
        known = ", ".join(f"{s}://" for s in sorted(_BACKENDS))
        raise ConfigurationError(
            f"unknown message bus URL scheme {parts.scheme + '://' if parts.scheme else url!r}; "
            f"known schemes: {known}"
        )
    module_name, class_name, extra, driver = spec
    if driver is not None:
        try:
            importlib.import_module(driver)
        except ImportError as e:
            raise MissingExtraError(f"the {scheme}:// message bus", extra or "", driver) from e
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise ConfigurationError(
            f"the {scheme}:// message bus backend ({module_name}.{class_name}) is not "
            "available in this version of eventflux"
        ) from e
    cls = getattr(module, class_name)
    bus: MessageBus = await cls._open(parts, options, codec=codec, **settings)
    return bus
