"""Restart the PostgreSQL server (stopped by PID) under a running subscription:
it resumes from its position without loss or duplicate, and the store
reconnects by itself (pool and notification connection)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from tests.servers.postgres import PostgresServer

from eventflux import EventStore, NewEvent, RecordedEvent, StoreUnavailableError, open_store
from eventflux.store.postgres import PostgresStoreBackend

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest_asyncio.fixture
async def own_server() -> AsyncIterator[PostgresServer]:
    server = PostgresServer()
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.close)


async def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _append_patiently(store: EventStore, stream: str, event: NewEvent) -> None:
    """Append, again while the server is still coming back. The store waits
    ``wait_timeout`` (2 s here, to keep the outage short) for a connection; on a
    busy machine the pool's reconnection can take longer. Appending the same
    event again is safe: a retry of a stored batch is not stored twice."""
    deadline = time.monotonic() + 30
    while True:
        try:
            await store.append(stream, [event])
            return
        except StoreUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_subscription_survives_server_restarts(own_server: PostgresServer) -> None:
    url = own_server.url(schema="restart", wait_timeout="2")
    reader = await open_store(url)
    writer = await open_store(url)
    backend = reader.backend
    assert isinstance(backend, PostgresStoreBackend)
    got: list[RecordedEvent] = []
    appended: list[str] = []

    async def consume() -> None:
        async for e in reader.subscribe():
            got.append(e)

    async def write(n: int) -> None:
        for i in range(n):
            e = NewEvent("Tick", {"i": len(appended)})
            await _append_patiently(writer, f"s-{i % 3}", e)
            appended.append(str(e.id))

    task = asyncio.create_task(consume())
    try:
        await write(20)
        await _until(lambda: len(got) == 20, 10, "the first events")
        await _until(lambda: backend.listener.connected, 10, "the listener")
        for immediate in (False, True):
            # stop by PID: a fast shutdown, then an immediate (crash-like) one
            await asyncio.to_thread(own_server.stop, immediate=immediate)
            with pytest.raises(StoreUnavailableError):
                await writer.append("down", [NewEvent("Lost", {})])
            await asyncio.sleep(0.3)
            await asyncio.to_thread(own_server.start)
            start = time.monotonic()
            await write(20)  # the writer reconnects by itself
            await _until(lambda: len(got) == len(appended), 30, "the events after restart")
            assert time.monotonic() - start < 20
            await _until(lambda: backend.listener.connected, 15, "the listener to reconnect")
        # notifications work again: a wake-up from another store arrives quickly
        delays = []
        for _ in range(5):
            t0 = time.perf_counter()
            await write(1)
            await _until(lambda: len(got) == len(appended), 5, "a live event")
            delays.append(time.perf_counter() - t0)
        assert sorted(delays)[2] < 0.05, delays
    finally:
        task.cancel()
        await reader.close()
        await writer.close()
    assert [str(e.id) for e in got] == appended
    assert [e.position for e in got] == sorted({e.position for e in got})
    assert all(e.stream != "down" for e in got)
