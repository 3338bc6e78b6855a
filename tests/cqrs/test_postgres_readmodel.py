"""The PostgreSQL read model on a real server: units of work, async projections,
runners in several processes, SIGKILL crashes, rebuilds under readers, errors."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from tests.cqrs._cqrs_domain import Credited, Debited, Renamed, codec, expected_balances, fill
from tests.cqrs._waits import LoopTicks, wait_checkpoint
from tests.servers._shared import free_port
from tests.servers.postgres import PostgresServer, pg_server

from eventflux import (
    ConfigurationError,
    EventStore,
    NewEvent,
    RecordedEvent,
    StoreBusyError,
    StoreUnavailableError,
    open_store,
)
from eventflux.cqrs import (
    PostgresReadModel,
    PostgresTransaction,
    Projection,
    ProjectionError,
    SQLiteReadModel,
    handles,
)
from eventflux.cqrs._pg_swap import scratch_schema

__all__ = ["pg_server"]

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "es-cqrs.md"


class PgLedger(Projection[PostgresTransaction]):
    """Balances per account, and one row per applied event (to count applications)."""

    name = "ledger"
    batch_size = 50

    async def create_schema(self, tx: PostgresTransaction) -> None:
        await tx.script(
            """
            CREATE TABLE balances (account text PRIMARY KEY, balance bigint NOT NULL, name text);
            CREATE INDEX balances_by_balance ON balances (balance);
            CREATE TABLE applied (position bigint NOT NULL, type text NOT NULL);
            """
        )

    async def _add(self, tx: PostgresTransaction, account: str, delta: int) -> None:
        await tx.execute(
            "INSERT INTO balances (account, balance) VALUES (%s, %s) ON CONFLICT (account) "
            "DO UPDATE SET balance = balances.balance + excluded.balance",
            (account, delta),
        )

    async def _applied(self, tx: PostgresTransaction, recorded: RecordedEvent) -> None:
        await tx.execute("INSERT INTO applied VALUES (%s, %s)", (recorded.position, recorded.type))

    @handles
    async def credited(
        self, event: Credited, tx: PostgresTransaction, recorded: RecordedEvent
    ) -> None:
        await self._add(tx, event.account, event.amount)
        await self._applied(tx, recorded)

    @handles
    async def debited(
        self, event: Debited, tx: PostgresTransaction, recorded: RecordedEvent
    ) -> None:
        await self._add(tx, event.account, -event.amount)
        await self._applied(tx, recorded)

    @handles("Noted")  # a type without a class: its data is a dict
    async def noted(self, event: dict[str, str], tx: PostgresTransaction) -> None:
        await tx.execute(
            "UPDATE balances SET name = %s WHERE account = %s", (event["note"], event["account"])
        )


class Stricter(PgLedger):
    name = "ledger"  # a subclass is named after its class otherwise

    @handles
    async def renamed(self, event: Renamed, tx: PostgresTransaction, e: RecordedEvent) -> None:
        await tx.execute("INSERT INTO applied VALUES (%s, 'Renamed')", (e.position,))
        raise RuntimeError("renames are not allowed")


# -- fixtures and helpers ----------------------------------------------------------------
class Urls:
    """The URLs of one test: a read-model schema and an event-store schema."""

    def __init__(self, server: PostgresServer) -> None:
        prefix = "t_" + uuid.uuid4().hex[:12]
        self.schema = f"{prefix}_read"
        self.read = server.url(schema=self.schema)
        self.events = server.url(schema=f"{prefix}_events")
        self.plain = server.url()


@pytest.fixture
def urls(pg_server: PostgresServer) -> Urls:
    return Urls(pg_server)


@pytest_asyncio.fixture
async def models(urls: Urls) -> AsyncIterator[list[PostgresReadModel]]:
    """Models opened by the test (``models.append``), closed when it ends."""
    opened: list[PostgresReadModel] = []
    yield opened
    for m in opened:
        await m.close()


@pytest_asyncio.fixture
async def model(urls: Urls, models: list[PostgresReadModel]) -> PostgresReadModel:
    m = PostgresReadModel.from_url(urls.read)
    models.append(m)
    return m


@pytest_asyncio.fixture
async def pg_store(urls: Urls) -> AsyncIterator[EventStore]:
    async with await open_store(urls.events, codec=codec) as s:
        yield s


def _another(urls: Urls, models: list[PostgresReadModel], **settings: Any) -> PostgresReadModel:
    """A second model on the same schema: another process's connections."""
    m = PostgresReadModel.from_url(urls.read, **settings)
    models.append(m)
    return m


#: rows, total, applied, once, implied, last, checkpoint
_STATE = (
    "SELECT count(*) FROM balances",
    "SELECT coalesce(sum(balance), 0) FROM balances",
    "SELECT count(*) FROM applied",
    "SELECT count(DISTINCT position) FROM applied",
    "SELECT coalesce(sum(CASE type WHEN 'Credited' THEN 10 ELSE -1 END), 0) FROM applied",
    "SELECT coalesce(max(position), 0) FROM applied",
    "SELECT position FROM eventflux_checkpoints WHERE name = 'ledger'",
)
State = tuple[int, ...]


async def _state(model: PostgresReadModel) -> State:
    """The ledger's state from one statement (one snapshot)."""
    row = await model.fetch_one(
        "SELECT " + ", ".join(f"({query}) AS v{i}" for i, query in enumerate(_STATE))
    )
    assert row is not None
    return tuple(int(v) for v in row.values())


async def _state_in_snapshot(model: PostgresReadModel) -> State:
    """The same, one statement per value, inside a snapshot."""
    async with model.snapshot() as db:
        values = [await db.fetch_value(query) for query in _STATE]
    return tuple(int(v) for v in values)


def _assert_whole(state: State, at_least: int) -> None:
    rows, total, applied, once, implied, last, checkpoint = state
    assert rows == 5, state  # never empty
    assert applied >= at_least, state  # never less than before
    assert applied == once, state  # no event twice
    assert total == implied, state  # balances match the events applied
    assert last == checkpoint, state  # the checkpoint matches the writes


async def _balances(model: PostgresReadModel) -> dict[str, int]:
    rows = await model.fetch_all("SELECT account, balance FROM balances")
    return {r["account"]: r["balance"] for r in rows}


async def _scratch_schemas(model: PostgresReadModel) -> list[str]:
    rows = await model.fetch_all(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
        (f"{model.schema}_rebuild",),
    )
    return [r["nspname"] for r in rows]


def _merged(*parts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0) + v
    return out


# -- units of work -------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_unit_of_work_commits_writes_and_checkpoint_together(
    model: PostgresReadModel, urls: Urls
) -> None:
    assert await model.checkpoint("p") == 0  # no schema yet
    assert await model.checkpoints() == {}
    async with model.unit_of_work("p") as uow:
        assert (uow.checkpoint, uow.is_new) == (0, True)
        await uow.tx.script("CREATE TABLE t (x int); CREATE INDEX t_x ON t (x);")
        await uow.tx.executemany("INSERT INTO t VALUES (%s)", [(1,), (2,)])
        assert (await uow.tx.execute("UPDATE t SET x = x WHERE x > %s", (0,))).rowcount == 2
        assert await uow.tx.fetch_value("SELECT sum(x) FROM t") == 3
        assert await uow.tx.fetch_one("SELECT x FROM t ORDER BY x") == {"x": 1}
        assert await uow.tx.fetch_all("SELECT x FROM t ORDER BY x") == [{"x": 1}, {"x": 2}]
        uow.checkpoint = 7
        assert await model.checkpoints() == {}  # readers see only what is committed
    assert await model.checkpoint("p") == 7

    async def crash() -> None:
        async with model.unit_of_work("p") as uow:
            assert (uow.checkpoint, uow.is_new) == (7, False)
            await uow.tx.execute("INSERT INTO t VALUES (100)")
            uow.checkpoint = 8
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        await crash()
    assert await model.checkpoint("p") == 7
    assert await model.fetch_all("SELECT x FROM t ORDER BY x") == [{"x": 1}, {"x": 2}]
    assert await model.fetch_one("SELECT x FROM t WHERE x > 5") is None
    async with model.unit_of_work("q") as uow:  # another projection: new, beside p
        assert (uow.checkpoint, uow.is_new) == (0, True)
    assert await model.checkpoints() == {"p": 7, "q": 0}
    # unqualified names landed in the model's schema, nowhere else
    where = "SELECT schemaname FROM pg_tables WHERE tablename = 't'"
    assert await model.fetch_all(where) == [{"schemaname": urls.schema}]


@pytest.mark.asyncio
async def test_a_cancelled_unit_of_work_rolls_back_and_the_model_goes_on(
    model: PostgresReadModel,
) -> None:
    async with model.unit_of_work("p") as uow:
        await uow.tx.execute("CREATE TABLE t (x int)")
        uow.checkpoint = 3
    started = asyncio.Event()

    async def slow_batch() -> None:
        async with model.unit_of_work("p") as uow:
            await uow.tx.execute("INSERT INTO t VALUES (1)")
            uow.checkpoint = 4
            started.set()
            await uow.tx.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow_batch())
    await started.wait()
    await asyncio.sleep(0.05)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 5  # the query was cancelled on the server
    assert await model.checkpoint("p") == 3
    assert await model.fetch_value("SELECT count(*) FROM t") == 0
    async with model.unit_of_work("p") as uow:  # the writer connection is usable again
        assert uow.checkpoint == 3
        await uow.tx.execute("INSERT INTO t VALUES (2)")
        uow.checkpoint = 4
    assert (await model.checkpoint("p"), await model.fetch_value("SELECT sum(x) FROM t")) == (4, 2)


@pytest.mark.asyncio
async def test_snapshot_reads_one_committed_state(model: PostgresReadModel) -> None:
    async with model.unit_of_work("p") as uow:
        await uow.tx.script("CREATE TABLE t (x int); INSERT INTO t VALUES (1);")
    async with model.snapshot() as db:
        assert await db.fetch_value("SELECT count(*) FROM t") == 1
        async with model.unit_of_work("p") as uow:
            await uow.tx.execute("INSERT INTO t VALUES (2)")
        assert await db.fetch_value("SELECT count(*) FROM t") == 1  # same snapshot
        assert await db.fetch_all("SELECT x FROM t") == [{"x": 1}]
        assert await db.fetch_one("SELECT x FROM t") == {"x": 1}
        assert await model.fetch_value("SELECT count(*) FROM t") == 2  # outside it
    for _ in range(3):  # the connection goes back for the next snapshots
        async with model.snapshot() as db:
            assert await db.fetch_value("SELECT count(*) FROM t") == 2
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        async with model.snapshot() as db:
            await db.fetch_value("INSERT INTO t VALUES (3) RETURNING x")
    assert await model.fetch_value("SELECT count(*) FROM t") == 2


@pytest.mark.asyncio
async def test_a_held_checkpoint_is_waited_for_without_blocking_the_loop(
    model: PostgresReadModel, urls: Urls, models: list[PostgresReadModel]
) -> None:
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

        impatient = _another(urls, models, lock_timeout=0.2)
        await other.execute("BEGIN")
        await other.execute(hold)
        with pytest.raises(StoreBusyError, match="stayed locked"):
            async with impatient.unit_of_work("p"):
                pass
        await other.execute("COMMIT")
    async with impatient.unit_of_work("p") as uow:  # and it recovers
        assert uow.checkpoint == 1


# -- projections -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_an_async_projection_catches_up_once_and_follows_the_store(
    store: EventStore, model: PostgresReadModel, urls: Urls, models: list[PostgresReadModel]
) -> None:
    ledger = PgLedger(model)
    await fill(store, 120)
    assert (await ledger.status(store)).lag == 120
    assert await ledger.catch_up(store) == 120
    assert await ledger.catch_up(store) == 0  # exactly once
    _assert_whole(await _state(model), 120)
    assert (await _state(model))[2] == 120
    assert await _balances(model) == expected_balances(120)

    live = asyncio.create_task(ledger.run(store))
    await store.append("a1", [NewEvent("Noted", {"account": "a1", "note": "savings"})])
    head = await fill(store, 30)
    async with asyncio.timeout(10):
        await ledger.wait_for(head)
        await PgLedger(_another(urls, models)).wait_for(head)  # from another process: polls
    assert await model.checkpoint("ledger") == head == 151
    assert await model.fetch_value("SELECT name FROM balances WHERE account = 'a1'") == "savings"
    assert (await _state(model))[2] == 150  # the note has no row in applied
    assert await _balances(model) == _merged(expected_balances(120), expected_balances(30))
    assert await ledger.lag(store) == 0
    live.cancel()
    await asyncio.gather(live, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_failing_handler_rolls_back_its_whole_batch(
    store: EventStore, model: PostgresReadModel
) -> None:
    await fill(store, 10)
    assert await Stricter(model).catch_up(store) == 10
    before = await _state(model)
    await fill(store, 3)
    await store.append("a1", [NewEvent("Renamed", Renamed("a1", "x"))])
    await fill(store, 2)
    with pytest.raises(ProjectionError, match="renames are not allowed") as info:
        await Stricter(model).catch_up(store)  # one batch: 3 events, the failure, 2 more
    assert (info.value.position, info.value.event_type) == (14, "Renamed")
    assert await _state(model) == before  # no partial rows, checkpoint unchanged
    assert before[2] == before[6] == 10
    with pytest.raises(ProjectionError, match="renames are not allowed"):
        async with asyncio.timeout(10):
            await Stricter(model).run(store)

    class BadSql(PgLedger):
        name = "ledger"  # a subclass is named after its class otherwise

        @handles
        async def renamed(self, event: Renamed, tx: PostgresTransaction) -> None:
            await tx.execute("UPDATE no_such_table SET x = 1")

    with pytest.raises(ProjectionError) as info:
        await BadSql(model).catch_up(store)
    assert isinstance(info.value.__cause__, psycopg.errors.UndefinedTable)
    assert await _state(model) == before
    # the model is fine afterwards: a ledger without the failing handler applies the rest
    assert await PgLedger(model).catch_up(store) == 6
    _assert_whole(await _state(model), 15)


@pytest.mark.asyncio
async def test_two_runners_on_one_schema_apply_each_event_once(
    pg_store: EventStore, urls: Urls, models: list[PostgresReadModel]
) -> None:
    """Two "processes" (models with their own connections) run one projection at
    once: the checkpoint row lock makes them take turns, each skips what the
    other applied."""
    a = PgLedger(_another(urls, models))
    b = PgLedger(_another(urls, models))
    a.batch_size = b.batch_size = 7
    await fill(pg_store, 100)
    runners = [asyncio.create_task(p.run(pg_store)) for p in (a, b)]
    head = await fill(pg_store, 200)  # appended while both run
    async with asyncio.timeout(20):
        await a.wait_for(head)
        await b.wait_for(head)
    for runner in runners:
        runner.cancel()
    await asyncio.gather(*runners, return_exceptions=True)
    state = await _state(a.model)
    _assert_whole(state, 300)
    assert (state[2], state[6]) == (300, head)
    assert await _balances(a.model) == _merged(expected_balances(100), expected_balances(200))

    await fill(pg_store, 50)
    applied = await asyncio.gather(a.catch_up(pg_store), b.catch_up(pg_store))
    assert sum(applied) == 50  # between them, each event once
    assert (await _state(a.model))[2] == 350


# -- crashes ---------------------------------------------------------------------------------
def _start_runner(urls: Urls, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENTFLUX_TEST_READ_URL": urls.read}
    with open(log, "ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eventflux.cqrs",
                "pg-tick-counter",
                "--store",
                urls.events,
                "--app",
                "tests.cqrs._pg_crash_app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


async def _append_ticks(store: EventStore, start: int, count: int) -> int:
    await store.append("ticks", [NewEvent("Tick", {"n": n}) for n in range(start, start + count)])
    return start + count


async def _consistent(model: PostgresReadModel, store: EventStore) -> int:
    """The read model is the fold of every event up to its checkpoint, each once."""
    async with model.snapshot() as db:
        applied = await db.fetch_all("SELECT position, n FROM applied ORDER BY position, n")
        totals = await db.fetch_one("SELECT count, sum FROM totals")
        checkpoint = await db.fetch_value(
            "SELECT position FROM eventflux_checkpoints WHERE name = 'pg-tick-counter'"
        )
    events = [e async for e in store.read_all() if e.position <= checkpoint]
    assert [(r["position"], r["n"]) for r in applied] == [(e.position, e.data["n"]) for e in events]
    assert totals == {"count": len(events), "sum": sum(e.data["n"] for e in events)}
    return int(checkpoint)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_sigkilled_runner_restarts_and_applies_each_event_exactly_once(
    urls: Urls, models: list[PostgresReadModel], tmp_path: Path
) -> None:
    """A runner process on a PostgreSQL store and read model (one database) is
    killed with SIGKILL at random moments while events are appended."""
    rng = random.Random(os.environ.get("EVENTFLUX_TEST_SEED", "pg-projection-crash"))
    model = _another(urls, models)
    log = tmp_path / "runner.err"
    deadline = time.monotonic() + 40
    async with await open_store(urls.events) as store:
        appended = await _append_ticks(store, 0, 600)
        stop = asyncio.Event()

        async def appender() -> None:
            nonlocal appended
            while not stop.is_set():
                appended = await _append_ticks(store, appended, 5)
                await asyncio.sleep(0.02)

        appending = asyncio.create_task(appender())
        checkpoint = kills = mid_batch = 0
        try:
            for _ in range(8):
                child = _start_runner(urls, log)
                try:
                    # it makes progress first, so that each kill hits a working runner
                    await wait_checkpoint(model, "pg-tick-counter", checkpoint + 1, deadline)
                    await asyncio.sleep(rng.uniform(0.0, 0.15))
                finally:
                    child.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(child.wait, 10)
                kills += 1
                before = await _consistent(model, store)
                assert before > checkpoint
                checkpoint = before
                mid_batch += checkpoint < appended
        finally:
            stop.set()
            await appending
        assert kills == 8
        assert mid_batch >= 4, "the kills did not land while the runner had work"
        head = await store.last_position()
        child = _start_runner(urls, log)
        try:
            await wait_checkpoint(model, "pg-tick-counter", head, deadline)
        finally:
            child.send_signal(signal.SIGTERM)  # a clean stop
            code = await asyncio.to_thread(child.wait, 10)
        assert code == 0, log.read_text()
        assert await _consistent(model, store) == head
        assert await model.fetch_one("SELECT count, sum FROM totals") == {
            "count": appended,
            "sum": sum(range(appended)),
        }


# -- rebuilds --------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_queries_never_see_an_empty_or_partial_model_during_a_rebuild(
    pg_store: EventStore, model: PostgresReadModel, urls: Urls, models: list[PostgresReadModel]
) -> None:
    await fill(pg_store, 600)
    ledger = PgLedger(model)
    await ledger.catch_up(pg_store)
    reader = _another(urls, models)  # a query process's own connections
    plain: list[State] = []
    snapshots: list[State] = []
    stop = asyncio.Event()
    rebuilt = asyncio.Event()
    rounds = 0

    async def query_loop(read: Any, into: list[State]) -> None:
        while not stop.is_set():
            into.append(await read(reader))
            await asyncio.sleep(0)

    async def writer() -> None:
        # Commands keep coming through the swap too; for 3 s at most, so that a swap
        # (which applies what arrived meanwhile) is never left chasing the writer.
        nonlocal rounds
        until = time.monotonic() + 3
        while rounds < 10 or (not rebuilt.is_set() and time.monotonic() < until):
            await fill(pg_store, 5)
            rounds += 1
            await asyncio.sleep(0.002)

    live = asyncio.create_task(ledger.run(pg_store))
    queries = [
        asyncio.create_task(query_loop(_state, plain)),
        asyncio.create_task(query_loop(_state_in_snapshot, snapshots)),
    ]
    writes = asyncio.create_task(writer())
    progress: list[tuple[int, int]] = []
    rebuilder = PgLedger(_another(urls, models))
    seen = (len(plain), len(snapshots))
    replayed = await rebuilder.rebuild(pg_store, progress=lambda p, h: progress.append((p, h)))
    rebuilt.set()
    assert min(len(plain) - seen[0], len(snapshots) - seen[1]) > 10  # read all along
    await writes
    head = await pg_store.last_position()
    async with asyncio.timeout(10):
        await ledger.wait_for(head)
    stop.set()
    await asyncio.gather(*queries)
    live.cancel()
    await asyncio.gather(live, return_exceptions=True)

    assert replayed >= 600
    for observations in (plain, snapshots):
        assert len(observations) > 20, len(observations)
        for state in observations:
            _assert_whole(state, 600)
        counts = [o[2] for o in observations]
        assert counts == sorted(counts)  # never goes back
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)
    final = await _state(reader)
    _assert_whole(final, 600 + 5 * rounds)
    assert (final[2], final[6]) == (600 + 5 * rounds, head)
    expected = _merged(expected_balances(600), *[expected_balances(5)] * rounds)
    assert await _balances(reader) == expected
    assert await _scratch_schemas(model) == []


class Richer(PgLedger):
    """The ledger with a view, a materialized view, an identity column and a sequence."""

    name = "ledger"

    async def create_schema(self, tx: PostgresTransaction) -> None:
        await super().create_schema(tx)
        await tx.script(
            """
            ALTER TABLE applied ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
            CREATE VIEW positive AS SELECT account FROM balances WHERE balance > 0;
            CREATE MATERIALIZED VIEW built AS SELECT 'yes' AS built;
            CREATE SEQUENCE tickets START 100;
            """
        )


@pytest.mark.asyncio
async def test_a_rebuild_repairs_a_damaged_model_and_keeps_other_tables(
    pg_store: EventStore, model: PostgresReadModel
) -> None:
    ledger = Richer(model)
    await fill(pg_store, 40)
    await ledger.catch_up(pg_store)
    async with model.unit_of_work("ledger") as uow:
        await uow.tx.execute("UPDATE balances SET balance = -999")  # damage
        await uow.tx.execute("CREATE TABLE unrelated (x int)")  # another projection's table
        await uow.tx.execute("INSERT INTO unrelated VALUES (1)")
    for _ in range(2):  # the second swap replaces what the first moved in
        assert await ledger.rebuild(pg_store) == 40
        assert await _balances(model) == expected_balances(40)
        assert await model.fetch_value("SELECT count(*) FROM unrelated") == 1
        assert await model.fetch_value("SELECT count(*) FROM positive") == 5
        assert await model.fetch_value("SELECT built FROM built") == "yes"
        assert await model.fetch_value("SELECT nextval('tickets')") == 100
        assert await model.fetch_value("SELECT max(id) FROM applied") == 40
        indexes = await model.fetch_all(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s ORDER BY 1", (model.schema,)
        )
        assert [r["indexname"] for r in indexes] == [
            "balances_by_balance",
            "balances_pkey",
            "eventflux_checkpoints_pkey",
        ]
        assert await ledger.lag(pg_store) == 0
        assert await _scratch_schemas(model) == []
    await fill(pg_store, 3)
    assert await ledger.catch_up(pg_store) == 3  # the live runner writes the moved tables


@pytest.mark.asyncio
async def test_a_first_rebuild_creates_the_model(
    store: EventStore, model: PostgresReadModel
) -> None:
    await fill(store, 12)
    ledger = PgLedger(model)
    assert await ledger.rebuild(store) == 12
    assert await model.fetch_value("SELECT count(*) FROM applied") == 12
    assert await ledger.catch_up(store) == 0


@pytest.mark.asyncio
async def test_a_failed_rebuild_leaves_the_live_model_alone(
    store: EventStore, model: PostgresReadModel
) -> None:
    await fill(store, 20)
    await PgLedger(model).catch_up(store)
    before = await _state(model)
    await store.append("a1", [NewEvent("Renamed", Renamed("a1", "x"))])
    with pytest.raises(ProjectionError, match="renames are not allowed"):
        await Stricter(model).rebuild(store)
    assert await _state(model) == before
    assert await _scratch_schemas(model) == []

    # a failure inside the swap transaction rolls the moves back as well
    fresh = await model.create_fresh("ledger")
    await PgLedger(fresh).catch_up(store)

    async def late_failure() -> None:
        async with model.swap_in(fresh, "ledger") as uow:
            assert await uow.tx.fetch_value("SELECT count(*) FROM applied") == 20
            await uow.tx.execute("DELETE FROM balances")
            raise RuntimeError("late failure")

    with pytest.raises(RuntimeError, match="late failure"):
        await late_failure()
    await fresh.discard()
    assert await _state(model) == before
    assert await _scratch_schemas(model) == []


@pytest.mark.asyncio
async def test_a_swap_refuses_to_leave_behind_what_the_tables_use(
    store: EventStore, model: PostgresReadModel
) -> None:
    class Typed(PgLedger):
        name = "ledger"  # a subclass is named after its class otherwise

        async def create_schema(self, tx: PostgresTransaction) -> None:
            await super().create_schema(tx)
            await tx.execute("CREATE TYPE kind AS ENUM ('credit', 'debit')")
            await tx.execute("ALTER TABLE applied ADD COLUMN kind kind")

    await fill(store, 5)
    await Typed(model).catch_up(store)
    before = await _state(model)
    with pytest.raises(ConfigurationError, match=r"does not move \(type .*kind\)"):
        await Typed(model).rebuild(store)
    assert await _state(model) == before
    assert await _scratch_schemas(model) == []


# -- configuration and errors -------------------------------------------------------------
def test_plain_handlers_are_refused_on_a_postgres_model(urls: Urls) -> None:
    class Plain(Projection[PostgresTransaction]):
        @handles
        def credited(self, event: Credited, tx: PostgresTransaction) -> None: ...

    class PlainSchema(Projection[PostgresTransaction]):
        def create_schema(self, tx: PostgresTransaction) -> None: ...

        @handles
        async def credited(self, event: Credited, tx: PostgresTransaction) -> None: ...

    model = PostgresReadModel.from_url(urls.read)
    with pytest.raises(ConfigurationError, match=r"async def: .*Plain\.credited"):
        Plain(model)
    with pytest.raises(ConfigurationError, match=r"PlainSchema\.create_schema"):
        PlainSchema(model)

    class Quiet(Projection[PostgresTransaction]):  # nothing to await: accepted
        pass

    Quiet(model)
    Plain(SQLiteReadModel(Path("unused.db")))  # SQLite runs plain handlers


def test_urls_and_names(urls: Urls) -> None:
    model = PostgresReadModel.from_url(urls.read)
    assert model.schema == urls.schema
    secret = PostgresReadModel("postgresql://app:secret@db.internal:6543/shop", schema="read")
    assert repr(secret) == "PostgresReadModel('db.internal:6543/shop', schema='read')"
    assert PostgresReadModel.from_url(urls.plain).schema == "public"
    assert PostgresReadModel.from_url(urls.plain.replace("postgresql", "postgres", 1))
    timed = PostgresReadModel.from_url(urls.plain + "?connect_timeout=3&sslmode=disable")
    assert timed.connect_timeout == 3.0
    for bad in ("bad-name", "1x", "x" * 64, ""):
        with pytest.raises(ConfigurationError):
            PostgresReadModel(urls.plain, schema=bad)
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresReadModel.from_url(urls.plain + "?schema=no;drop")
    with pytest.raises(ConfigurationError, match="postgresql://"):
        PostgresReadModel.from_url("sqlite:///read.db")
    with pytest.raises(ConfigurationError, match="both"):
        PostgresReadModel.from_url(urls.read, schema="other")
    with pytest.raises(ConfigurationError, match="from_url"):
        PostgresReadModel(urls.read)  # ?schema= is not a libpq option
    scratch = scratch_schema("s" * 63, "a projection/with odd name")
    assert len(scratch) == 63
    assert scratch != scratch_schema("s" * 63, "another projection")
    assert scratch_schema("read", "shop-catalog") == "read_rebuild_shop_catalog"


@pytest.mark.asyncio
async def test_an_unreachable_server_is_a_clear_store_error() -> None:
    port = free_port()
    model = PostgresReadModel(
        f"postgresql://postgres:secret@127.0.0.1:{port}/postgres", connect_timeout=2
    )
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}") as info:
        await model.fetch_all("SELECT 1")
    assert "secret" not in str(info.value)
    with pytest.raises(StoreUnavailableError, match="cannot connect to PostgreSQL"):
        async with model.unit_of_work("p"):
            pass
    with pytest.raises(StoreUnavailableError):
        async with model.snapshot():
            pass
    assert time.monotonic() - start < 10
    await model.close()


@pytest.mark.asyncio
async def test_swaps_need_a_postgres_model_and_live_schemas_are_never_discarded(
    model: PostgresReadModel, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="PostgresReadModel"):
        async with model.swap_in(object(), "p"):  # type: ignore[arg-type]
            pass
    sqlite: Any = SQLiteReadModel(tmp_path / "read.db")
    with pytest.raises(TypeError, match="PostgresReadModel"):
        async with model.swap_in(sqlite, "p"):
            pass
    with pytest.raises(ConfigurationError, match="live"):
        await model.discard()


def test_importing_the_cqrs_package_loads_no_postgres_driver() -> None:
    code = (
        "import sys, eventflux.cqrs as c; print('psycopg' in sys.modules); "
        "c.PostgresReadModel; print('psycopg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


# -- the guide's example -------------------------------------------------------------------
def _doc_blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"^```python postgres\n(.*?)^```[ \t]*$", text, re.S | re.M)


@pytest.fixture
def database(pg_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database, dropped afterwards."""
    name = "doc_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_server.url(dbname=name)
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_the_guides_postgres_example_runs(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _doc_blocks()
    assert len(blocks) == 1
    monkeypatch.setenv("DATABASE_URL", database)
    namespace: dict[str, object] = {"__name__": "es_cqrs_md_postgres"}
    exec(compile(blocks[0], str(DOC), "exec", dont_inherit=True), namespace)
