"""What is PostgreSQL's own in the PostgreSQL read model, on a real server: row
locks held by other runners, statements cancelled on the server, the swap of
views and sequences, schemas and URLs, an unreachable server, the lazy driver.

What every read model does (units of work, projections, rebuilds, crashes) is
tested on this one too, by the tests parametrized over ``place``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from tests.cqrs._cqrs_domain import Ledger, expected_balances, fill
from tests.cqrs._waits import LoopTicks, poll_until
from tests.servers._shared import free_port
from tests.servers.postgres import PostgresServer, pg_server

from eventflux import (
    ConfigurationError,
    EventStore,
    NewEvent,
    RecordedEvent,
    StoreBusyError,
    StoreUnavailableError,
)
from eventflux.cqrs import Projection, ReadModel, Transaction, handles, open_read_model
from eventflux.cqrs.readmodel.postgres import PostgresReadModelBackend, scratch_schema, to_pyformat

__all__ = ["pg_server"]

pytestmark = pytest.mark.postgres


class Urls:
    """The URLs of one test: a read-model schema."""

    def __init__(self, server: PostgresServer) -> None:
        self.schema = "t_" + uuid.uuid4().hex[:12] + "_read"
        self.read = server.url(schema=self.schema)
        self.plain = server.url()


@pytest.fixture
def urls(pg_server: PostgresServer) -> Urls:
    return Urls(pg_server)


class Models:
    """Read models opened by a test, closed when it ends."""

    def __init__(self, urls: Urls) -> None:
        self.urls = urls
        self.opened: list[ReadModel] = []

    def open(self, **settings: Any) -> ReadModel:
        model = open_read_model(self.urls.read, **settings)
        self.opened.append(model)
        return model


@pytest_asyncio.fixture
async def models(urls: Urls) -> AsyncIterator[Models]:
    opened = Models(urls)
    yield opened
    for model in opened.opened:
        await model.close()


@pytest.mark.asyncio
async def test_a_held_checkpoint_is_waited_for_without_blocking_the_loop(
    urls: Urls, models: Models
) -> None:
    model = models.open()
    async with model.unit_of_work("p"):
        pass
    hold = sql.SQL("SELECT 1 FROM {} WHERE name = 'p' FOR UPDATE").format(
        sql.Identifier(urls.schema, "eventflux_checkpoints")
    )
    async with await psycopg.AsyncConnection.connect(urls.plain, autocommit=True) as other:
        await other.execute("BEGIN")
        await other.execute(hold)  # as a runner in another process does
        release = asyncio.get_running_loop().call_later(
            0.3, lambda: asyncio.ensure_future(other.execute("COMMIT"))
        )
        async with LoopTicks() as ticks, model.unit_of_work("p") as uow:
            uow.checkpoint = 1
        release.cancel()
        assert ticks.count >= 20
        assert await model.checkpoint("p") == 1

        impatient = models.open(lock_timeout=0.2)
        await other.execute("BEGIN")
        await other.execute(hold)
        with pytest.raises(StoreBusyError, match="stayed locked"):
            async with impatient.unit_of_work("p"):
                pass
        await other.execute("COMMIT")
    async with impatient.unit_of_work("p") as uow:  # and it recovers
        assert uow.checkpoint == 1


_NAPPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(30)'"
)


@pytest.mark.asyncio
async def test_cancelling_a_batch_cancels_its_statement_on_the_server(
    store: EventStore, models: Models
) -> None:
    started = threading.Event()

    class Sleepy(Ledger):
        name = "ledger"

        @handles("Nap")
        def nap(self, event: Any, tx: Transaction) -> None:
            started.set()
            tx.execute("SELECT pg_sleep(30)")

    model = models.open()
    await fill(store, 10)
    assert await Ledger(model).catch_up(store) == 10
    await store.append("naps", [NewEvent("Nap", {})])
    task = asyncio.create_task(Sleepy(model).catch_up(store))
    await poll_until(started.is_set, "the nap began")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the server runs the statement
        if await model.fetch_value(_NAPPING):
            break
        await asyncio.sleep(0.005)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 10  # the statement was cancelled on the server
    assert await model.checkpoint("ledger") == 10
    assert await model.fetch_value("SELECT count(*) FROM applied") == 10
    assert await Ledger(model).catch_up(store) == 1  # the writer goes on (no nap handler)


@pytest.mark.asyncio
async def test_snapshots_are_read_only(models: Models) -> None:
    model = models.open()
    async with model.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (x int)")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        async with model.snapshot() as db:
            await db.fetch_value("INSERT INTO t VALUES (3) RETURNING x")
    assert await model.fetch_value("SELECT count(*) FROM t") == 0
    # unqualified names land in the model's schema, nowhere else (other tests of the
    # shared server have tables named t in schemas of their own)
    schema = model.backend.schema  # type: ignore[attr-defined]
    where = (
        "SELECT schemaname FROM pg_tables WHERE tablename = 't' "
        "AND (schemaname = 'public' OR starts_with(schemaname, :schema))"
    )
    assert await model.fetch_all(where, {"schema": schema}) == [{"schemaname": schema}]


class Richer(Ledger):
    """The ledger with a view, a materialized view, an identity column and a sequence."""

    name = "ledger"

    def create_schema(self, tx: Transaction) -> None:
        super().create_schema(tx)
        tx.script(
            """
            ALTER TABLE applied ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
            CREATE VIEW positive AS SELECT account FROM balances WHERE balance > 0;
            CREATE MATERIALIZED VIEW built AS SELECT 'yes' AS built;
            CREATE SEQUENCE tickets START 100;
            """
        )


@pytest.mark.asyncio
async def test_a_swap_moves_views_sequences_and_identities(
    store: EventStore, models: Models
) -> None:
    model = models.open()
    ledger = Richer(model)
    await fill(store, 40)
    await ledger.catch_up(store)
    for _ in range(2):  # the second swap replaces what the first moved in
        assert await ledger.rebuild(store) == 40
        assert await model.fetch_value("SELECT count(*) FROM positive") == 5
        assert await model.fetch_value("SELECT built FROM built") == "yes"
        assert await model.fetch_value("SELECT nextval('tickets')") == 100
        assert await model.fetch_value("SELECT max(id) FROM applied") == 40
        rows = await model.fetch_all("SELECT account, balance FROM balances")
        assert {r["account"]: r["balance"] for r in rows} == expected_balances(40)
    await fill(store, 3)
    assert await ledger.catch_up(store) == 3


@pytest.mark.asyncio
async def test_a_swap_refuses_to_leave_behind_what_the_tables_use(
    store: EventStore, models: Models
) -> None:
    class Typed(Ledger):
        name = "ledger"  # a subclass is named after its class otherwise

        async def create_schema(self, tx: Transaction) -> None:
            super().create_schema(tx)
            tx.execute("CREATE TYPE kind AS ENUM ('credit', 'debit')")
            tx.execute("ALTER TABLE applied ADD COLUMN kind kind")

        @handles("Unused")
        async def unused(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
            pass

    model = models.open()
    await fill(store, 5)
    await Typed(model).catch_up(store)
    before = await model.fetch_value("SELECT count(*) FROM applied")
    with pytest.raises(ConfigurationError, match=r"does not move \(type .*kind\)"):
        await Typed(model).rebuild(store)
    assert await model.fetch_value("SELECT count(*) FROM applied") == before
    rows = await model.fetch_all(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)",
        {"p": f"{model.backend.schema}_rebuild"},  # type: ignore[attr-defined]
    )
    assert rows == []


def test_placeholders_translate_for_psycopg() -> None:
    assert to_pyformat("SELECT :a, x::text, ':b', \"c:d\", $$:e$$, $t$:f$t$") == (
        "SELECT %(a)s, x::text, ':b', \"c:d\", $$:e$$, $t$:f$t$"
    )
    assert to_pyformat("SELECT 'it''s :x %' -- :y %\n, :z") == (
        "SELECT 'it''s :x %%' -- :y %%\n, %(z)s"
    )
    assert to_pyformat("SELECT E'a\\':b', 5 % 2, /* :c */ :d_1") == (
        "SELECT E'a\\':b', 5 %% 2, /* :c */ %(d_1)s"
    )
    assert to_pyformat("SELECT :1, a[1:2], :_x") == "SELECT :1, a[1:2], %(_x)s"


def test_urls_and_names(urls: Urls) -> None:
    model = open_read_model(urls.read)
    assert model.backend.schema == urls.schema  # type: ignore[attr-defined]
    assert open_read_model(urls.plain).backend.schema == "public"  # type: ignore[attr-defined]
    assert open_read_model(urls.plain.replace("postgresql", "postgres", 1))
    timed = open_read_model(urls.plain + "?connect_timeout=3&lock_timeout=4&sslmode=disable")
    place = timed.backend.place  # type: ignore[attr-defined]
    assert (place.connect_timeout, place.lock_timeout) == (3.0, 4.0)
    secret = PostgresReadModelBackend("postgresql://app:secret@db.internal:6543/shop", schema="r")
    assert repr(secret) == "PostgresReadModelBackend('db.internal:6543/shop', schema='r')"
    assert secret.url == "postgresql://app@db.internal:6543/shop?schema=r"
    dsn = PostgresReadModelBackend("host=db dbname=shop user=app", schema="r")
    assert dsn.url == "postgresql://app@db:5432/shop?schema=r"
    for bad in ("bad-name", "1x", "x" * 64, ""):
        with pytest.raises(ConfigurationError):
            PostgresReadModelBackend(urls.plain, schema=bad)
    with pytest.raises(ConfigurationError, match="schema"):
        open_read_model(urls.plain + "?schema=no;drop")
    with pytest.raises(ConfigurationError, match="both"):
        open_read_model(urls.read, schema="other")
    with pytest.raises(ConfigurationError, match="unknown setting"):
        open_read_model(urls.read, durability="full")
    with pytest.raises(ConfigurationError, match="positive"):
        open_read_model(urls.read, lock_timeout=0)
    with pytest.raises(ConfigurationError, match="connection string"):
        PostgresReadModelBackend(urls.read)  # ?schema= is not a libpq option
    scratch = scratch_schema("s" * 63, "a projection/with odd name")
    assert len(scratch) == 63
    assert scratch != scratch_schema("s" * 63, "another projection")
    assert scratch_schema("read", "shop-catalog") == "read_rebuild_shop_catalog"


@pytest.mark.asyncio
async def test_an_unreachable_server_is_a_clear_store_error() -> None:
    port = free_port()
    model = open_read_model(
        f"postgresql://postgres:secret@127.0.0.1:{port}/postgres", connect_timeout=2
    )
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}") as info:
        await model.fetch_all("SELECT 1")
    assert "secret" not in str(info.value)
    with pytest.raises(StoreUnavailableError, match="cannot connect to PostgreSQL"):
        async with model.unit_of_work("p"):
            pass
    with pytest.raises(StoreUnavailableError, match="cannot connect"):
        await model.run_unit_of_work("p", lambda uow: None)
    with pytest.raises(StoreUnavailableError):
        async with model.snapshot():
            pass

    class Any_(Projection):
        pass

    with pytest.raises(StoreUnavailableError):
        await Any_(model).wait_for(1)
    assert time.monotonic() - start < 20
    await model.close()


def test_importing_the_cqrs_package_loads_no_postgres_driver() -> None:
    code = (
        "import sys, eventflux.cqrs as c; print('psycopg' in sys.modules); "
        "c.open_read_model('postgresql://h/db'); print('psycopg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
