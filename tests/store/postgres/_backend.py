"""Reaching the PostgreSQL backend of a store, for tests that look inside it."""

from __future__ import annotations

from eventflux import EventStore
from eventflux.store.postgres import PostgresStoreBackend

__all__ = ["pg"]


def pg(store: EventStore) -> PostgresStoreBackend:
    """The store's PostgreSQL backend (its statements, writer and listener)."""
    backend = store.backend
    assert isinstance(backend, PostgresStoreBackend)
    return backend
