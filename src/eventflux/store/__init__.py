"""Event store: the facade users call, ``open_store(url)`` which picks a backend
by URL scheme, and the value types.

Schemes: ``memory://`` (a fresh in-process store each call),
``sqlite:///relative.db`` / ``sqlite:////absolute.db`` (embedded, durable) and
``postgresql://user@host/db`` (the ``postgres`` extra). Options go in the query
string, e.g. ``sqlite:///events.db?durability=normal&max_event_bytes=65536``.
Every backend takes ``max_event_bytes`` (the size limit of one encoded event,
default 1 MiB), ``max_append_events`` (most events of one append, default
10,000) and ``max_append_bytes`` (most encoded bytes of one append, default
64 MiB).

The layout: :mod:`.facade` (:class:`EventStore`), :mod:`.backend` (the
public backend interface), :mod:`.validation` (the input rules), :mod:`.types`,
and one folder per backend: ``memory/``, ``sqlite/``, ``postgres/``.
"""

from __future__ import annotations

from .._internal.urls import Backends, int_option, resolve_backend
from ..codec import Codec
from .backend import StoreBackend
from .encoding import DEFAULT_MAX_APPEND_BYTES, DEFAULT_MAX_APPEND_EVENTS
from .facade import EventStore
from .types import ANY, NO_STREAM, STREAM_EXISTS, ExpectedVersion, Snapshot, StreamLimits
from .validation import DEFAULT_MAX_EVENT_BYTES

__all__ = [
    "ANY",
    "EventStore",
    "ExpectedVersion",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Snapshot",
    "StoreBackend",
    "StreamLimits",
    "open_store",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: Backends = {
    "memory": ("eventflux.store.memory", "MemoryStoreBackend", None, None),
    "sqlite": ("eventflux.store.sqlite", "SQLiteStoreBackend", None, None),
    "postgresql": ("eventflux.store.postgres", "PostgresStoreBackend", "postgres", "psycopg"),
    "postgres": ("eventflux.store.postgres", "PostgresStoreBackend", "postgres", "psycopg"),
}


async def open_store(url: str, *, codec: Codec | None = None, create: bool = True) -> EventStore:
    """Open the event store named by ``url``.

    ``codec`` encodes and decodes event data (default: the process-wide
    :data:`~eventflux.default_codec`). A store is created on first use; with
    ``create=False`` a URL that names no store yet raises
    :class:`~eventflux.StoreNotFoundError` and creates nothing (what tools
    that only read or operate on a store want).

    Example::

        async with await open_store("sqlite:///bank.db") as store:
            ...
        existing = await open_store("sqlite:///bank.db", create=False)
    """
    cls, parts, options = resolve_backend(url, _BACKENDS, "event store")
    max_event_bytes = int_option(options, "max_event_bytes", DEFAULT_MAX_EVENT_BYTES)
    max_events = int_option(options, "max_append_events", DEFAULT_MAX_APPEND_EVENTS)
    max_bytes = int_option(options, "max_append_bytes", DEFAULT_MAX_APPEND_BYTES)
    backend: StoreBackend = (
        await cls.open(parts, options) if create else await cls.open(parts, options, create=False)
    )
    return EventStore(
        backend,
        codec=codec,
        max_event_bytes=max_event_bytes,
        max_append_events=max_events,
        max_append_bytes=max_bytes,
    )
