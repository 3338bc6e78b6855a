"""Projections: dispatch by class, checkpoints in the same transaction, live runs, lag."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.cqrs._cqrs_domain import (
    Credited,
    Debited,
    Ledger,
    Renamed,
    expected_balances,
    fill,
)

from eventflux import EventStore, NewEvent
from eventflux.cqrs import (
    Projection,
    ProjectionError,
    ProjectionStatus,
    SQLiteReadModel,
    SQLiteTransaction,
    handles,
)


def balances(ledger: Ledger) -> dict[str, int]:
    rows = ledger.model.fetch_all("SELECT account, balance FROM balances")
    return {r["account"]: r["balance"] for r in rows}


@pytest.mark.asyncio
async def test_catch_up_applies_each_event_once(store: EventStore, ledger: Ledger) -> None:
    head = await fill(store, 120)
    assert await ledger.lag(store) == head
    assert await ledger.catch_up(store) == 120
    assert balances(ledger) == expected_balances(120)
    assert await ledger.status(store) == ProjectionStatus("ledger", head, head)
    assert await ledger.lag(store) == 0
    # a second run (or a second runner on the same model) changes nothing
    assert await ledger.catch_up(store) == 0
    other = Ledger(SQLiteReadModel(ledger.model.path))
    assert await other.catch_up(store) == 0
    await other.model.close()
    assert ledger.model.fetch_value("SELECT count(*) FROM applied") == 120
    await fill(store, 7)
    assert await ledger.catch_up(store) == 7
    assert ledger.model.fetch_value("SELECT count(*) FROM applied") == 127


@pytest.mark.asyncio
async def test_dispatch_by_class_by_type_name_and_unhandled_events(
    store: EventStore, ledger: Ledger
) -> None:
    await store.append("a", [NewEvent("Credited", Credited("a", 5))])
    await store.append("a", [NewEvent("Noted", {"account": "a", "note": "savings"})])
    await store.append("a", [NewEvent("Renamed", Renamed("a", "x"))])  # no handler
    await store.append("a", [NewEvent("Debited", Debited("a", 2))])
    assert await ledger.catch_up(store) == 4
    assert ledger.model.fetch_one("SELECT * FROM balances") == {
        "account": "a",
        "balance": 3,
        "name": "savings",
    }
    assert await ledger.lag(store) == 0


@pytest.mark.asyncio
async def test_a_failing_handler_rolls_back_its_whole_batch(
    store: EventStore, tmp_path: Path
) -> None:
    class Fragile(Ledger):
        name = "fragile"

        @handles
        def renamed(self, event: Renamed, tx: SQLiteTransaction) -> None:
            raise RuntimeError("cannot rename")

    fragile = Fragile(SQLiteReadModel(tmp_path / "fragile.db"))
    await fill(store, 60)  # batch 1: 1..50, batch 2: 51..60 + the rename
    await store.append("a0", [NewEvent("Renamed", Renamed("a0", "x"))])
    with pytest.raises(
        ProjectionError, match=r"'fragile' failed on event 'Renamed' at position 61"
    ):
        await fragile.catch_up(store)
    assert await fragile.model.checkpoint("fragile") == 50
    assert fragile.model.fetch_value("SELECT count(*) FROM applied") == 50
    await fragile.model.close()


@pytest.mark.asyncio
async def test_run_follows_the_store_and_wait_for_sees_progress(
    store: EventStore, ledger: Ledger
) -> None:
    await fill(store, 30)
    task = asyncio.create_task(ledger.run(store))
    try:
        head = await fill(store, 75)
        async with asyncio.timeout(10):
            await ledger.wait_for(head)
        assert balances(ledger) == expected_balances(30) | {
            k: expected_balances(30)[k] + v for k, v in expected_balances(75).items()
        }
        assert await ledger.lag(store) == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_wait_for_polls_a_projection_running_elsewhere(
    store: EventStore, ledger: Ledger
) -> None:
    head = await fill(store, 10)
    elsewhere = Ledger(SQLiteReadModel(ledger.model.path))  # another runner, same file
    task = asyncio.create_task(elsewhere.run(store))
    try:
        async with asyncio.timeout(10):
            await ledger.wait_for(head)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await elsewhere.model.close()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await ledger.wait_for(head + 1)


@pytest.mark.asyncio
async def test_run_stops_with_the_handlers_error(store: EventStore, tmp_path: Path) -> None:
    class Broken(Projection[SQLiteTransaction]):
        @handles
        def credited(self, event: Credited, tx: SQLiteTransaction) -> None:
            raise ValueError("bad credit")

    broken = Broken(SQLiteReadModel(tmp_path / "broken.db"))
    assert broken.name == "broken"
    task = asyncio.create_task(broken.run(store))
    await fill(store, 1)
    with pytest.raises(ProjectionError, match="bad credit"):
        async with asyncio.timeout(10):
            await task
    await broken.model.close()


@pytest.mark.asyncio
async def test_run_ends_when_the_store_closes(store: EventStore, ledger: Ledger) -> None:
    await fill(store, 3)
    task = asyncio.create_task(ledger.run(store))
    async with asyncio.timeout(10):
        await ledger.wait_for(3)
    await store.close()
    async with asyncio.timeout(10):
        await task


def test_handler_declarations() -> None:
    @dataclass
    class Seen:
        pass

    class Multi(Projection[SQLiteTransaction]):
        @handles
        def both(self, event: Credited | Debited, tx: SQLiteTransaction) -> None:
            pass

        @handles(Seen)
        def seen(self, event: object, tx: SQLiteTransaction) -> None:
            pass

    assert Multi.name == "multi"
    assert set(Multi._by_class) == {Credited, Debited, Seen}

    class CamelCaseName(Multi):
        pass

    assert CamelCaseName.name == "camel-case-name"
    assert set(CamelCaseName._by_class) == {Credited, Debited, Seen}  # inherited

    with pytest.raises(TypeError, match="two handlers"):

        class Twice(Projection[SQLiteTransaction]):
            @handles
            def a(self, event: Credited, tx: SQLiteTransaction) -> None:
                pass

            @handles(Credited)
            def b(self, event: object, tx: SQLiteTransaction) -> None:
                pass

    with pytest.raises(TypeError, match="must take exactly 3 or 4"):

        class Arity(Projection[SQLiteTransaction]):
            @handles
            def a(self, event: Credited) -> None:
                pass

    with pytest.raises(TypeError, match="decorates methods"):
        handles(3)  # type: ignore[call-overload]


@pytest.mark.asyncio
async def test_a_failing_schema_is_a_projection_error(store: EventStore, tmp_path: Path) -> None:
    class BadSchema(Projection[SQLiteTransaction]):
        def create_schema(self, tx: SQLiteTransaction) -> None:
            tx.execute("CREATE TABLE oops (")

    bad = BadSchema(SQLiteReadModel(tmp_path / "bad.db"))
    with pytest.raises(ProjectionError, match=r"\(create_schema\)"):
        await bad.catch_up(store)
    assert await bad.model.checkpoint("bad-schema") == 0
    await bad.model.close()
