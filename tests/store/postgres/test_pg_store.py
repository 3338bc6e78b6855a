"""The PostgreSQL backend beyond the contract: URL options, schema creation and
migration, error translation, group commit, notifications and their fallback."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from tests.servers._shared import free_port
from tests.servers.postgres import PostgresServer
from tests.store.postgres._backend import pg

from eventflux import (
    ConcurrencyError,
    ConfigurationError,
    EventStore,
    NewEvent,
    NotAnEventStoreError,
    StoreUnavailableError,
    open_store,
)

pytestmark = pytest.mark.postgres

Opener = Callable[[str], Awaitable[EventStore]]


def ev(**data: object) -> NewEvent:
    return NewEvent("Happened", data)


# -- URL and options -------------------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("schema=1abc", "schema"),
        ("schema=a-b", "schema"),
        ("pool_max=0", "pool_max"),
        ("pool_min=5&pool_max=2", "pool_max"),
        ("wait_timeout=-1", "wait_timeout"),
        ("poll_interval=abc", "poll_interval"),
        ("no_such_option=1", "no_such_option"),
    ],
)
@pytest.mark.asyncio
async def test_bad_options_are_configuration_errors(
    pg_server: PostgresServer, query: str, match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        await open_store(pg_server.url() + "?" + query)


@pytest.mark.asyncio
async def test_postgres_scheme_alias_and_libpq_options(
    pg_server: PostgresServer, opened: Opener
) -> None:
    url = pg_server.url(schema="alias_test", application_name="eventflux-test")
    store = await opened(url.replace("postgresql://", "postgres://"))
    await store.append("s", [ev()])
    assert await store.stream_version("s") == 1


@pytest.mark.asyncio
async def test_unreachable_server_is_a_store_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres?wait_timeout=0.5"
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        await open_store(url)
    assert time.monotonic() - start < 10


# -- schema ----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_schema_with_other_tables_is_refused(
    pg_server: PostgresServer, fresh_url: Callable[..., str]
) -> None:
    url = fresh_url()
    schema = url.split("schema=")[1]
    async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.customers (id int)")
    with pytest.raises(NotAnEventStoreError, match="customers"):
        await open_store(url)
    async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,))
        assert await cur.fetchone() == (1,)  # nothing was changed


@pytest.mark.asyncio
async def test_newer_layout_is_refused(
    pg_server: PostgresServer, fresh_url: Callable[..., str], opened: Opener
) -> None:
    url = fresh_url()
    store = await opened(url)
    async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as conn:
        await conn.execute(f'UPDATE "{pg(store).schema}".eventflux_schema SET version = 99')
    with pytest.raises(NotAnEventStoreError, match="newer"):
        await open_store(url)


def test_processes_creating_one_schema_at_once(fresh_url: Callable[..., str]) -> None:
    url = fresh_url()
    code = (
        "import asyncio, sys\n"
        "from eventflux import open_store, NewEvent\n"
        "async def main():\n"
        "    async with await open_store(sys.argv[1]) as s:\n"
        "        await s.append('s', [NewEvent('Started', {})])\n"
        "asyncio.run(main())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err

    async def count() -> int:
        async with await open_store(url) as store:
            return await store.stream_version("s")

    assert asyncio.run(count()) == 6


# -- group commit ----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_group_commit_isolates_conflicts(
    fresh_url: Callable[..., str], opened: Opener, pg_server: PostgresServer
) -> None:
    store = await opened(fresh_url())
    for i in range(20):
        await store.append(f"s-{i}", [ev(i=i)])

    async def commits() -> int:
        async with await psycopg.AsyncConnection.connect(pg_server.url()) as conn:
            cur = await conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"
            )
            row = await cur.fetchone()
            assert row is not None
            return int(row[0])

    before = await commits()
    # 200 appends at once; those on even streams expect the wrong version
    calls = [
        store.append(f"s-{i % 20}", [ev(k=k)], expected_version=1 if i % 2 else 0)
        for k, i in enumerate(range(200))
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    after = await commits()
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyError)]
    # one winner per odd stream (expected version 1); every even-stream call conflicts,
    # and so do the later odd-stream calls
    assert len(ok) == 10
    assert len(conflicts) == 190
    assert after - before < 50  # grouped: far fewer transactions than appends
    events = [e async for e in store.read_all()]
    assert len(events) == 30


@pytest.mark.asyncio
async def test_retry_in_the_same_group_returns_the_original(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    store = await opened(fresh_url())
    batch = [ev(n=1), ev(n=2)]
    results = await asyncio.gather(*(store.append("s", batch) for _ in range(5)))
    assert len(set(results)) == 1
    assert await store.stream_version("s") == 2


@pytest.mark.asyncio
async def test_reused_id_in_another_stream_by_another_process(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    from eventflux import DuplicateEventError

    a = await opened(fresh_url())
    b = await opened(fresh_url())
    shared = ev()
    outcomes = await asyncio.gather(
        a.append("x", [shared]), b.append("y", [shared]), return_exceptions=True
    )
    assert sum(isinstance(o, DuplicateEventError) for o in outcomes) == 1
    assert len([e async for e in a.read_all()]) == 1


@pytest.mark.asyncio
async def test_stale_predictions_write_nothing_and_take_the_general_path(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    """A writer predicts stream versions from its own appends; another process
    changing a stream behind its back makes the one-statement append abort
    whole, and the general path gives the right answer."""
    from eventflux import NO_STREAM, StreamDeletedError

    a = await opened(fresh_url())
    b = await opened(fresh_url())
    assert (await a.append("s", [ev(), ev()])).last_version == 2  # a predicts 2 now
    await b.append("s", [ev()])  # the stream is at 3
    result = await a.append("s", [ev(i=1)])  # ANY: predicted 2, really 3
    assert (result.first_version, result.last_version) == (4, 4)
    await b.append("s", [ev()])
    with pytest.raises(ConcurrencyError):
        await a.append("s", [ev()], expected_version=4)  # predicted 4: right, but stale
    assert await a.stream_version("s") == 5

    # a new stream that another process created first
    await b.append("new", [ev()])
    with pytest.raises(ConcurrencyError):
        await a.append("new", [ev()], expected_version=NO_STREAM)
    assert (await a.append("new", [ev()])).last_version == 2

    # deleted, or given retention limits, elsewhere
    await a.append("gone", [ev()])
    await b.delete_stream("gone", hard=True)
    with pytest.raises(StreamDeletedError):
        await a.append("gone", [ev()])
    await a.append("kept", [ev(i=i) for i in range(3)])
    await b.set_stream_limits("kept", max_count=2)
    await a.append("kept", [ev(i=9)])
    assert [e.data["i"] async for e in a.read("kept")] == [2, 9]

    # a group of two streams, one of them stale: all or nothing
    await a.append_many({"p": ([ev()], NO_STREAM), "q": ([ev()], NO_STREAM)})
    await b.append("q", [ev()])
    with pytest.raises(ConcurrencyError):
        await a.append_many({"p": ([ev()], 1), "q": ([ev()], 1)})
    assert (await a.stream_version("p"), await a.stream_version("q")) == (1, 2)
    everything = [e async for e in a.read_all()]
    assert [e.position for e in everything] == sorted({e.position for e in everything})


# -- notifications ---------------------------------------------------------------------
async def _latencies(writer: EventStore, reader: EventStore, n: int) -> list[float]:
    received: asyncio.Queue[float] = asyncio.Queue()

    async def consume() -> None:
        async for _ in reader.subscribe():
            received.put_nowait(time.perf_counter())

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    delays = []
    try:
        for i in range(n):
            start = time.perf_counter()
            await writer.append("s", [ev(i=i)])
            delays.append(await asyncio.wait_for(received.get(), 10) - start)
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    return delays


@pytest.mark.asyncio
async def test_other_processes_appends_wake_subscribers_quickly(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    writer = await opened(fresh_url())
    reader = await opened(fresh_url())
    delays = await _latencies(writer, reader, 15)
    assert pg(reader).listener.connected
    assert statistics.median(delays) < 0.05, delays


@pytest.mark.asyncio
async def test_no_listener_and_no_polling_without_subscribers(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    store = await opened(fresh_url())
    await store.append("s", [ev()])
    assert [e.type async for e in store.read_all()] == ["Happened"]
    assert not pg(store).listener.started


@pytest.mark.asyncio
async def test_lost_notification_connection_falls_back_to_polling(
    pg_server: PostgresServer, fresh_url: Callable[..., str], opened: Opener
) -> None:
    writer = await opened(fresh_url())
    reader = await opened(fresh_url(poll_interval="0.1"))
    got: list[int] = []

    async def consume() -> None:
        async for e in reader.subscribe():
            got.append(e.data["i"])

    task = asyncio.create_task(consume())
    try:
        await asyncio.sleep(0.2)
        backend = pg(reader)
        assert backend.listener.connected
        async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as c:
            await c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE %s",
                (f'LISTEN "{backend.statements.notify_channel}"',),
            )
        for _ in range(100):
            if not backend.listener.connected:
                break
            await asyncio.sleep(0.01)
        wait = await backend.start_waiting(lambda: None)  # what a subscription gets
        backend.stop_waiting()
        assert wait == 0.1 or backend.listener.connected
        await writer.append("s", [ev(i=1)])
        for _ in range(300):
            if got == [1]:
                break
            await asyncio.sleep(0.01)
        assert got == [1]
        for _ in range(300):  # and it reconnects by itself
            if backend.listener.connected:
                break
            await asyncio.sleep(0.01)
        assert backend.listener.connected
        await writer.append("s", [ev(i=2)])
        for _ in range(300):
            if got == [1, 2]:
                break
            await asyncio.sleep(0.01)
        assert got == [1, 2]
    finally:
        task.cancel()
