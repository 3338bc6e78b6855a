"""The PostgreSQL store's layout beyond the contract: the correlation index, the
store id, and upgrading a store of layout 1 (several processes at once)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from tests.servers.postgres import PostgresServer
from tests.store.postgres._backend import pg

from eventflux import EventStore, NewEvent, open_store

pytestmark = pytest.mark.postgres

Opener = Callable[[str], Awaitable[EventStore]]


async def _downgrade(pg_server: PostgresServer, schema: str) -> None:
    """Turn a store into one of layout 1, as the first versions made it."""
    async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as conn:
        await conn.execute(f'DROP INDEX "{schema}".events_correlation')
        await conn.execute(f'ALTER TABLE "{schema}".events DROP COLUMN correlation_id')
        await conn.execute(f'ALTER TABLE "{schema}".eventflux_schema DROP COLUMN store_id')
        await conn.execute(f'UPDATE "{schema}".eventflux_schema SET version = 1')


@pytest.mark.asyncio
async def test_correlation_reads_use_the_index(
    pg_server: PostgresServer, fresh_url: Callable[..., str], opened: Opener
) -> None:
    store = await opened(fresh_url())
    for i in range(40):  # enough rows that a scan would cost more than the index
        await store.append(
            f"s-{i}",
            [
                NewEvent("X", {"i": i, "k": k}, metadata={"correlation_id": f"c-{i}-{k % 5}"})
                for k in range(500)
            ],
        )
    backend = pg(store)
    async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as conn:
        await conn.execute(f'ANALYZE "{backend.schema}".events')
        for key, sql in backend.statements.read_all.items():
            if not key[2]:
                continue
            params = {
                "after": 0,
                "limit": 100,
                "types": ["X"],
                "prefix": "s-1",
                "correlation_id": "c-7-3",
            }
            cur = await conn.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            row = await cur.fetchone()
            assert row is not None
            plan = json.dumps(row[0])
            assert "events_correlation" in plan, (key, plan)
            assert "Seq Scan" not in plan, (key, plan)
    got = [e.data async for e in store.read_all(correlation_id="c-7-3")]
    assert got == [{"i": 7, "k": k} for k in range(3, 500, 5)]


@pytest.mark.asyncio
async def test_the_store_id_is_recorded_once_and_kept(
    fresh_url: Callable[..., str], opened: Opener
) -> None:
    url = fresh_url()
    first = await (await opened(url)).store_id()
    assert await (await opened(url)).store_id() == first
    other = await opened(fresh_url(schema="t_other_" + first[:8]))
    assert await other.store_id() != first


@pytest.mark.asyncio
async def test_a_store_of_layout_one_is_upgraded_on_open(
    pg_server: PostgresServer, fresh_url: Callable[..., str], opened: Opener
) -> None:
    url = fresh_url()
    store = await opened(url)
    schema = pg(store).schema
    await store.append(
        "a",
        [
            NewEvent("X", {"n": 1}, metadata={"correlation_id": "c"}),
            NewEvent("X", {"n": 2}, metadata={"correlation_id": "c\x00d", "note": "\x00"}),
            NewEvent("X", {"n": 3}, metadata={"correlation_id": 7}),
            NewEvent("X", {"n": 4}),
            NewEvent("X", {"n": 5}, metadata={"note": "a\x00b", "correlation_id": "c"}),
        ],
    )
    await store.close()
    await _downgrade(pg_server, schema)
    upgraded = await opened(url)
    assert [e.data["n"] async for e in upgraded.read_all(correlation_id="c")] == [1, 5]
    assert [e.data["n"] async for e in upgraded.read_all(correlation_id="c\x00d")] == [2]
    assert [e.data["n"] async for e in upgraded.read_all(correlation_id="7")] == []
    store_id = await upgraded.store_id()
    assert await (await opened(url)).store_id() == store_id
    async with await psycopg.AsyncConnection.connect(pg_server.url(), autocommit=True) as conn:
        cur = await conn.execute(f'SELECT version, store_id FROM "{schema}".eventflux_schema')
        assert await cur.fetchall() == [(2, store_id)]


@pytest.mark.asyncio
async def test_processes_upgrading_one_store_at_once_agree_on_its_id(
    pg_server: PostgresServer, fresh_url: Callable[..., str]
) -> None:
    url = fresh_url()
    async with await open_store(url) as store:
        schema = pg(store).schema
        await store.append("a", [NewEvent("X", {}, metadata={"correlation_id": "c"})])
    await _downgrade(pg_server, schema)
    code = (
        "import asyncio, sys\n"
        "from eventflux import open_store\n"
        "async def main():\n"
        "    async with await open_store(sys.argv[1]) as s:\n"
        "        found = [e async for e in s.read_all(correlation_id='c')]\n"
        "        print(await s.store_id(), len(found))\n"
        "asyncio.run(main())\n"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, url, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    outs = set()
    for p in procs:
        out, err = await asyncio.wait_for(p.communicate(), 60)
        assert p.returncode == 0, err
        outs.add(out.decode().strip())
    assert len(outs) == 1
    assert outs.pop().endswith(" 1")
