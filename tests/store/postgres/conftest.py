"""Fixtures of the PostgreSQL event store tests: the shared server, fresh schemas."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

from tests.servers.postgres import PostgresServer, pg_server

from eventflux import EventStore
from eventflux.store.postgres import PostgresStoreBackend

__all__ = ["fresh_url", "opened", "pg_server"]


@pytest.fixture
def fresh_url(pg_server: PostgresServer) -> Callable[..., str]:
    """A function returning a store URL; every test gets its own schema."""
    schema = "t_" + uuid.uuid4().hex[:16]

    def make(**options: str) -> str:
        return pg_server.url(**{"schema": schema, **options})

    return make


@pytest_asyncio.fixture
async def opened() -> AsyncIterator[Callable[[str], Awaitable[EventStore]]]:
    """``await opened(url)`` opens a PostgreSQL store that is closed when the test ends."""
    from eventflux import open_store

    stores: list[EventStore] = []

    async def open_(url: str) -> EventStore:
        store = await open_store(url)
        assert isinstance(store.backend, PostgresStoreBackend)
        stores.append(store)
        return store

    yield open_
    for store in stores:
        await store.close()
