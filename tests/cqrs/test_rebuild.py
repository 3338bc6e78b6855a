"""Rebuilds on every read model: from position zero, beside the live model,
swapped in atomically, while queries and the live projection keep running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from tests.cqrs._cqrs_domain import Ledger, Renamed, expected_balances, fill, merged
from tests.cqrs._places import ReadPlace

from eventflux import EventStore, NewEvent
from eventflux.cqrs import ProjectionError, ReadModel, Transaction, handles

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


async def state_in_one_query(model: ReadModel) -> State:
    """The ledger's state from one statement (one snapshot)."""
    row = await model.fetch_one(
        "SELECT " + ", ".join(f"({query}) AS v{i}" for i, query in enumerate(_STATE))
    )
    assert row is not None
    return tuple(int(v) for v in row.values())


async def state_in_a_snapshot(model: ReadModel) -> State:
    """The same, one statement per value, inside a snapshot."""
    async with model.snapshot() as db:
        values = [await db.fetch_value(query) for query in _STATE]
    return tuple(int(v) for v in values)


def assert_whole(state: State, at_least: int) -> None:
    rows, total, applied, once, implied, last, checkpoint = state
    assert rows == 5, state  # never empty
    assert applied >= at_least, state  # never less than before
    assert applied == once, state  # no event twice
    assert total == implied, state  # balances match the events applied
    assert last == checkpoint, state  # the checkpoint matches the writes


async def balances(model: ReadModel) -> dict[str, int]:
    rows = await model.fetch_all("SELECT account, balance FROM balances")
    return {r["account"]: int(r["balance"]) for r in rows}


async def index_names(model: ReadModel, place: ReadPlace) -> list[str]:
    if place.kind == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        query = "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
    return sorted(r["name"] for r in await model.fetch_all(query))


@pytest.mark.asyncio
async def test_queries_never_see_an_empty_or_partial_model_during_a_rebuild(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    await fill(store, 600)
    await ledger.catch_up(store)
    reader = place.open()  # a query process's own connections
    plain: list[State] = []
    snapshots: list[State] = []
    stop = asyncio.Event()
    rebuilt = asyncio.Event()
    rounds = 0

    async def query_loop(read: Callable[[ReadModel], Awaitable[State]], into: list[State]) -> None:
        while not stop.is_set():
            into.append(await read(reader))
            await asyncio.sleep(0)

    async def writer() -> None:
        # Commands keep coming through the swap too; for 3 s at most, so that a swap
        # (which applies what arrived meanwhile) is never left chasing the writer.
        nonlocal rounds
        until = time.monotonic() + 3
        while rounds < 10 or (not rebuilt.is_set() and time.monotonic() < until):
            await fill(store, 5)
            rounds += 1
            await asyncio.sleep(0.002)

    live = asyncio.create_task(ledger.run(store))
    queries = [
        asyncio.create_task(query_loop(state_in_one_query, plain)),
        asyncio.create_task(query_loop(state_in_a_snapshot, snapshots)),
    ]
    writes = asyncio.create_task(writer())
    progress: list[tuple[int, int]] = []
    rebuilder = type(ledger)(place.open())
    seen = (len(plain), len(snapshots))
    replayed = await rebuilder.rebuild(store, progress=lambda p, h: progress.append((p, h)))
    rebuilt.set()
    assert min(len(plain) - seen[0], len(snapshots) - seen[1]) > 10  # read all along
    await writes
    head = await store.last_position()
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
            assert_whole(state, 600)
        counts = [o[2] for o in observations]
        assert counts == sorted(counts)  # never goes back
    assert progress[-1][0] >= 600
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)
    final = await state_in_one_query(reader)
    assert_whole(final, 600 + 5 * rounds)
    assert (final[2], final[6]) == (600 + 5 * rounds, head)  # each event exactly once
    assert await balances(reader) == merged(
        expected_balances(600), *[expected_balances(5)] * rounds
    )
    assert await place.leftovers() == []


@pytest.mark.asyncio
async def test_a_rebuild_repairs_a_damaged_model_and_keeps_other_tables(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    await fill(store, 40)
    await ledger.catch_up(store)
    async with ledger.model.unit_of_work("ledger") as uow:
        uow.tx.execute("UPDATE balances SET balance = -999")  # damage
        uow.tx.execute("CREATE TABLE unrelated (x INTEGER)")  # another projection's table
        uow.tx.execute("INSERT INTO unrelated VALUES (1)")
    indexes = await index_names(ledger.model, place)
    assert "balances_by_balance" in indexes
    for _ in range(2):  # the second swap replaces what the first moved in
        assert await ledger.rebuild(store) == 40
        assert await balances(ledger.model) == expected_balances(40)
        assert await ledger.model.fetch_value("SELECT count(*) FROM unrelated") == 1
        assert await index_names(ledger.model, place) == indexes
        assert await ledger.lag(store) == 0
        assert await place.leftovers() == []
    await fill(store, 3)
    assert await ledger.catch_up(store) == 3  # the live runner writes the swapped tables


@pytest.mark.asyncio
async def test_a_first_rebuild_creates_the_model(store: EventStore, ledger: Ledger) -> None:
    await fill(store, 12)
    assert await ledger.rebuild(store) == 12
    assert await ledger.model.fetch_value("SELECT count(*) FROM applied") == 12
    assert await ledger.catch_up(store) == 0


@pytest.mark.asyncio
async def test_a_failed_rebuild_leaves_the_live_model_alone(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    await fill(store, 20)
    await ledger.catch_up(store)
    before = await state_in_one_query(ledger.model)

    class Stricter(type(ledger)):  # type: ignore[misc]
        name = "ledger"  # a subclass is named after its class otherwise

        @handles
        def renamed(self, event: Renamed, tx: Transaction) -> None:
            raise RuntimeError("renames are not allowed")

    await store.append("a1", [NewEvent("Renamed", Renamed("a1", "x"))])
    with pytest.raises(ProjectionError, match="renames are not allowed"):
        await Stricter(ledger.model).rebuild(store)
    assert await state_in_one_query(ledger.model) == before
    assert await place.leftovers() == []

    # a failure inside the swap's transaction rolls the swap back as well
    fresh = await ledger.model.create_fresh("ledger")
    await type(ledger)(fresh).catch_up(store)

    async def late_failure() -> None:
        async with ledger.model.unit_of_work("ledger", swap_in=fresh) as uow:
            assert uow.tx.fetch_value("SELECT count(*) FROM applied") == 20  # the new tables
            uow.tx.execute("DELETE FROM balances")
            raise RuntimeError("late failure")

    with pytest.raises(RuntimeError, match="late failure"):
        await late_failure()
    await fresh.discard()
    assert await state_in_one_query(ledger.model) == before
    assert await place.leftovers() == []


@pytest.mark.asyncio
async def test_a_rebuild_finishes_under_a_writer_that_never_pauses(
    store: EventStore, ledger: Ledger, place: ReadPlace
) -> None:
    """The swap applies what arrived since the replay only up to the head it
    found before it began: a writer that keeps going cannot keep it open."""
    await fill(store, 300)
    await ledger.catch_up(store)
    stop = asyncio.Event()
    calls = 0

    async def writer() -> None:
        nonlocal calls
        while not stop.is_set():
            await fill(store, 5)
            calls += 1

    writes = asyncio.create_task(writer())
    rebuilder = type(ledger)(place.open())
    try:
        async with asyncio.timeout(60):
            replayed = await rebuilder.rebuild(store)
    finally:
        stop.set()
        await writes
    assert replayed >= 300
    assert calls > 0
    accounts, total, applied, once, implied, last, checkpoint = await state_in_one_query(
        ledger.model
    )
    assert accounts == 5
    assert applied == once == checkpoint == last  # a prefix of the log, each event once
    assert total == implied
    await ledger.catch_up(store)  # the rest is the live projection's, as usual
    final = await state_in_one_query(ledger.model)
    head = await store.last_position()
    assert final[2] == head == final[6] == 300 + 5 * calls
    expected = merged(expected_balances(300), *[expected_balances(5)] * calls)
    assert await balances(ledger.model) == expected
