"""Projections on every read model, with plain and with async handlers: dispatch
by class, checkpoints in the same transaction, live runs, lag, failures,
several runners, cancellation."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg.errors import UndefinedTable
from tests.cqrs._cqrs_domain import (
    Credited,
    Debited,
    Ledger,
    Renamed,
    expected_balances,
    fill,
    merged,
)
from tests.cqrs._places import ReadPlace
from tests.cqrs._waits import poll_until

from eventflux import EventStore, NewEvent, RecordedEvent
from eventflux.cqrs import (
    Projection,
    ProjectionError,
    ProjectionStatus,
    ReadModel,
    Transaction,
    handles,
)


async def balances(model: ReadModel) -> dict[str, int]:
    rows = await model.fetch_all("SELECT account, balance FROM balances")
    return {r["account"]: r["balance"] for r in rows}


async def applied(model: ReadModel) -> int:
    return int(await model.fetch_value("SELECT count(*) FROM applied"))


@pytest.mark.asyncio
async def test_catch_up_applies_each_event_once(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    head = await fill(store, 120)
    assert await ledger.lag(store) == head
    assert await ledger.catch_up(store) == 120
    assert await balances(ledger.model) == expected_balances(120)
    assert await ledger.status(store) == ProjectionStatus("ledger", head, head)
    assert await ledger.lag(store) == 0
    # a second run (or a second runner on the same model) changes nothing
    assert await ledger.catch_up(store) == 0
    assert await type(ledger)(place.open()).catch_up(store) == 0
    assert await applied(ledger.model) == 120
    await fill(store, 7)
    assert await ledger.catch_up(store) == 7
    assert await applied(ledger.model) == 127
    assert await ledger.model.checkpoints() == {"ledger": head + 7}


@pytest.mark.asyncio
async def test_dispatch_by_class_by_type_name_and_unhandled_events(
    store: EventStore, ledger: Ledger
) -> None:
    await store.append("a", [NewEvent("Credited", Credited("a", 5))])
    await store.append("a", [NewEvent("Noted", {"account": "a", "note": "savings"})])
    await store.append("a", [NewEvent("Renamed", Renamed("a", "x"))])  # no handler
    await store.append("a", [NewEvent("Debited", Debited("a", 2))])
    assert await ledger.catch_up(store) == 4
    assert await ledger.model.fetch_one("SELECT * FROM balances") == {
        "account": "a",
        "balance": 3,
        "name": "savings",
    }
    assert await ledger.lag(store) == 0


@pytest.mark.asyncio
async def test_a_failing_handler_rolls_back_its_whole_batch(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    class Fragile(type(ledger)):  # type: ignore[misc]
        name = "ledger"  # a subclass is named after its class otherwise

        @handles
        def renamed(self, event: Renamed, tx: Transaction) -> None:
            raise RuntimeError("cannot rename")

    fragile = Fragile(ledger.model)
    await fill(store, 60)  # batch 1: 1..50, batch 2: 51..60 + the rename
    await store.append("a0", [NewEvent("Renamed", Renamed("a0", "x"))])
    with pytest.raises(ProjectionError, match=r"'ledger' failed on event 'Renamed' at position 61"):
        await fragile.catch_up(store)
    assert await fragile.model.checkpoint("ledger") == 50
    assert await applied(fragile.model) == 50
    with pytest.raises(ProjectionError, match="cannot rename") as info:
        async with asyncio.timeout(10):
            await Fragile(place.open()).run(store)
    assert (info.value.position, info.value.event_type) == (61, "Renamed")

    class BadSql(type(ledger)):  # type: ignore[misc]
        name = "ledger"

        @handles
        def renamed(self, event: Renamed, tx: Transaction) -> None:
            tx.execute("UPDATE no_such_table SET x = 1")

    with pytest.raises(ProjectionError, match="no_such_table") as info:
        await BadSql(ledger.model).catch_up(store)
    driver_error = sqlite3.OperationalError if place.kind == "sqlite" else UndefinedTable
    assert isinstance(info.value.__cause__, driver_error)  # the driver's own error, as cause
    assert await applied(ledger.model) == 50
    # the model is fine afterwards: the ledger (no handler for renames) applies the rest
    assert await ledger.catch_up(store) == 11
    assert await applied(ledger.model) == 60


@pytest.mark.asyncio
async def test_run_follows_the_store_and_wait_for_sees_progress(
    store: EventStore, ledger: Ledger
) -> None:
    await fill(store, 30)
    task = asyncio.create_task(ledger.run(store))
    try:
        await store.append("a1", [NewEvent("Noted", {"account": "a1", "note": "savings"})])
        head = await fill(store, 75)
        async with asyncio.timeout(10):
            await ledger.wait_for(head)
        assert await balances(ledger.model) == merged(expected_balances(30), expected_balances(75))
        value = await ledger.model.fetch_value(
            "SELECT name FROM balances WHERE account = :a", {"a": "a1"}
        )
        assert value == "savings"
        assert await ledger.lag(store) == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_wait_for_polls_a_projection_running_elsewhere(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    head = await fill(store, 10)
    elsewhere = type(ledger)(place.open())  # another runner, same read model
    task = asyncio.create_task(elsewhere.run(store))
    try:
        async with asyncio.timeout(10):
            await ledger.wait_for(head)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await ledger.wait_for(head + 1)


@pytest.mark.asyncio
async def test_run_stops_with_the_handlers_error(store: EventStore, model: ReadModel) -> None:
    class Broken(Projection):
        @handles
        def credited(self, event: Credited, tx: Transaction) -> None:
            raise ValueError("bad credit")

    class AsyncBroken(Projection):
        @handles
        async def credited(self, event: Credited, tx: Transaction) -> None:
            raise ValueError("bad async credit")

    assert Broken.name == "broken"
    await fill(store, 1)
    for projection, message in ((Broken(model), "bad credit"), (AsyncBroken(model), "async")):
        task = asyncio.create_task(projection.run(store))
        with pytest.raises(ProjectionError, match=message):
            async with asyncio.timeout(10):
                await task


@pytest.mark.asyncio
async def test_run_ends_when_the_store_closes(store: EventStore, ledger: Ledger) -> None:
    await fill(store, 3)
    task = asyncio.create_task(ledger.run(store))
    async with asyncio.timeout(10):
        await ledger.wait_for(3)
    await store.close()
    async with asyncio.timeout(10):
        await task


@pytest.mark.asyncio
async def test_two_runners_on_one_model_apply_each_event_once(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    """Two "processes" (models with their own connections) run one projection at
    once: the checkpoint's lock makes them take turns, each skips what the
    other applied."""
    a, b = type(ledger)(place.open()), type(ledger)(place.open())
    a.batch_size = b.batch_size = 7
    await fill(store, 100)
    runners = [asyncio.create_task(p.run(store)) for p in (a, b)]
    head = await fill(store, 200)  # appended while both run
    async with asyncio.timeout(30):
        await a.wait_for(head)
        await b.wait_for(head)
    for runner in runners:
        runner.cancel()
    await asyncio.gather(*runners, return_exceptions=True)
    assert (await applied(a.model), await a.model.checkpoint("ledger")) == (300, head)
    assert await balances(a.model) == merged(expected_balances(100), expected_balances(200))

    await fill(store, 50)
    done = await asyncio.gather(a.catch_up(store), b.catch_up(store))
    assert sum(done) == 50  # between them, each event once
    assert await applied(a.model) == 350


@pytest.mark.asyncio
async def test_a_cancelled_batch_is_rolled_back_whole_and_stops_early(
    store: EventStore, model: ReadModel
) -> None:
    seen: list[int] = []
    started = threading.Event()
    pause = [0.005]

    class Slow(Projection):
        batch_size = 1000

        def create_schema(self, tx: Transaction) -> None:
            tx.execute("CREATE TABLE seen (position BIGINT NOT NULL)")

        @handles("Tick")
        def tick(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
            tx.execute("INSERT INTO seen VALUES (:p)", {"p": e.position})
            seen.append(e.position)
            if len(seen) == 10:
                started.set()
            time.sleep(pause[0])

    class AsyncSlow(Slow):
        name = "slow"

        @handles("Tick")
        async def tick(self, event: Any, tx: Transaction, e: RecordedEvent) -> None:
            tx.execute("INSERT INTO seen VALUES (:p)", {"p": e.position})
            seen.append(e.position)
            if len(seen) == 10:
                started.set()
            await asyncio.sleep(pause[0])

    await store.append("ticks", [NewEvent("Tick", {"n": n}) for n in range(500)])
    for kind in (Slow, AsyncSlow):
        seen.clear()
        started.clear()
        slow = kind(model)
        task = asyncio.create_task(slow.catch_up(store))
        await poll_until(started.is_set, "ten events applied")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert 10 <= len(seen) < 500, len(seen)  # it stopped between two events
        assert await model.checkpoint("slow") == 0  # and none of the batch went in
        assert await model.fetch_value("SELECT count(*) FROM seen") == 0
    seen.clear()
    pause[0] = 0
    assert await Slow(model).catch_up(store) == 500  # the model goes on
    assert await model.fetch_value("SELECT count(*) FROM seen") == 500


def test_handler_declarations() -> None:
    @dataclass
    class Seen:
        pass

    class Multi(Projection):
        @handles
        def both(self, event: Credited | Debited, tx: Transaction) -> None:
            pass

        @handles(Seen)
        def seen(self, event: object, tx: Transaction) -> None:
            pass

    assert Multi.name == "multi"
    assert set(Multi._by_class) == {Credited, Debited, Seen}

    class CamelCaseName(Multi):
        pass

    assert CamelCaseName.name == "camel-case-name"
    assert set(CamelCaseName._by_class) == {Credited, Debited, Seen}  # inherited

    with pytest.raises(TypeError, match="two handlers"):

        class Twice(Projection):
            @handles
            def a(self, event: Credited, tx: Transaction) -> None:
                pass

            @handles(Credited)
            def b(self, event: object, tx: Transaction) -> None:
                pass

    with pytest.raises(TypeError, match="must take exactly 3 or 4"):

        class Arity(Projection):
            @handles
            def a(self, event: Credited) -> None:
                pass

    with pytest.raises(TypeError, match="decorates methods"):
        handles(3)  # type: ignore[call-overload]


@pytest.mark.asyncio
async def test_a_failing_schema_is_a_projection_error(store: EventStore, model: ReadModel) -> None:
    class BadSchema(Projection):
        def create_schema(self, tx: Transaction) -> None:
            tx.execute("CREATE TABLE oops (")

    class AsyncBadSchema(Projection):
        name = "bad-schema"

        async def create_schema(self, tx: Transaction) -> None:
            raise ValueError("no schema today")

    with pytest.raises(ProjectionError, match=r"\(create_schema\)"):
        await BadSchema(model).catch_up(store)
    with pytest.raises(ProjectionError, match="no schema today"):
        await AsyncBadSchema(model).catch_up(store)
    assert await model.checkpoint("bad-schema") == 0
