"""Event store: the port and ``open_store(url)``, which picks a backend by URL scheme.

Schemes: ``memory://`` (a fresh in-process store each call),
``sqlite:///relative.db`` / ``sqlite:////absolute.db`` (embedded, durable) and
``postgresql://user@host/db`` (the ``postgres`` extra). Options go in the query
string, e.g. ``sqlite:///events.db?durability=normal&max_event_bytes=65536``.
"""

from __future__ import annotations

from typing import Any

from .._internal.urls import Backends, resolve_backend
from ..codec import Codec
from .base import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    EventStore,
    ExpectedVersion,
    Snapshot,
    StreamLimits,
)

__all__ = [
    "ANY",
    "EventStore",
    "ExpectedVersion",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Snapshot",
    "StreamLimits",
    "open_store",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: Backends = {
    "memory": ("eventflux.store.memory", "MemoryEventStore", None, None),
    "sqlite": ("eventflux.store.sqlite", "SQLiteEventStore", None, None),
    "postgresql": ("eventflux.store.postgres", "PostgresEventStore", "postgres", "psycopg"),
    "postgres": ("eventflux.store.postgres", "PostgresEventStore", "postgres", "psycopg"),
}


async def open_store(url: str, *, codec: Codec | None = None, **settings: Any) -> EventStore:
    """Open the event store named by ``url``.

    Example::

        async with await open_store("sqlite:///bank.db") as store:
            ...
    """
    cls, parts, options = resolve_backend(url, _BACKENDS, "event store")
    store: EventStore = await cls._open(parts, options, codec=codec, **settings)
    return store
