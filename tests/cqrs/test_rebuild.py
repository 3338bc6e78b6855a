"""Rebuilds: from position zero, beside the live model, swapped in atomically."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from tests.cqrs._cqrs_domain import Ledger, Renamed, expected_balances, fill

from eventflux import EventStore, NewEvent
from eventflux.cqrs import ProjectionError, SQLiteReadModel, SQLiteTransaction, handles


def _state(model: SQLiteReadModel) -> tuple[int, int, int, int, int]:
    """(balances rows, sum of balances, applied rows, sum implied by applied, checkpoint),
    all from one snapshot."""
    with model.snapshot() as db:
        return (
            db.fetch_value("SELECT count(*) FROM balances"),
            db.fetch_value("SELECT coalesce(sum(balance), 0) FROM balances"),
            db.fetch_value("SELECT count(*) FROM applied"),
            db.fetch_value(
                "SELECT coalesce(sum(CASE type WHEN 'Credited' THEN 10 ELSE -1 END), 0) "
                "FROM applied"
            ),
            db.fetch_value("SELECT position FROM eventflux_checkpoints WHERE name = 'ledger'"),
        )


@pytest.mark.asyncio
async def test_queries_never_see_an_empty_or_partial_model_during_a_rebuild(
    store: EventStore, ledger: Ledger
) -> None:
    await fill(store, 600)
    await ledger.catch_up(store)
    reader = SQLiteReadModel(ledger.model.path)  # a query process's own connection
    observations: list[tuple[int, int, int, int, int]] = []
    stop = asyncio.Event()

    async def query_loop() -> None:
        while not stop.is_set():
            observations.append(_state(reader))
            await asyncio.sleep(0)

    async def writer() -> None:  # commands keep coming during the rebuild
        for _ in range(10):
            await fill(store, 5)
            await asyncio.sleep(0.001)

    live = asyncio.create_task(ledger.run(store))
    queries = asyncio.create_task(query_loop())
    writes = asyncio.create_task(writer())
    progress: list[tuple[int, int]] = []
    rebuilder = Ledger(SQLiteReadModel(ledger.model.path))
    replayed = await rebuilder.rebuild(store, progress=lambda p, h: progress.append((p, h)))
    await writes
    head = await store.last_position()
    async with asyncio.timeout(10):
        await ledger.wait_for(head)
    stop.set()
    await queries
    live.cancel()
    await asyncio.gather(live, return_exceptions=True)

    assert replayed >= 600
    assert len(observations) > 20, len(observations)
    for rows, total, applied, implied, checkpoint in observations:
        assert rows == 5  # never empty
        assert applied >= 600  # never partial
        assert total == implied  # balances match the events applied
        assert applied == checkpoint  # positions are 1..n here: one row per event
    counts = [o[2] for o in observations]
    assert counts == sorted(counts)  # never goes back
    assert progress[-1][0] >= 600
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)
    final = _state(reader)
    assert final[2] == head == final[4]  # each event applied exactly once
    assert head == 650
    rows = reader.fetch_all("SELECT * FROM balances")
    expected = _merged(expected_balances(600), [expected_balances(5)] * 10)
    assert {r["account"]: r["balance"] for r in rows} == expected
    assert not [p for p in os.listdir(Path(ledger.model.path).parent) if "rebuild" in p]
    await reader.close()
    await rebuilder.model.close()


def _merged(base: dict[str, int], more: list[dict[str, int]]) -> dict[str, int]:
    out = dict(base)
    for m in more:
        for k, v in m.items():
            out[k] = out.get(k, 0) + v
    return out


@pytest.mark.asyncio
async def test_a_rebuild_repairs_a_damaged_model_and_keeps_other_tables(
    store: EventStore, ledger: Ledger
) -> None:
    await fill(store, 40)
    await ledger.catch_up(store)
    async with ledger.model.unit_of_work("ledger") as uow:
        uow.tx.execute("UPDATE balances SET balance = -999")  # damage
        uow.tx.execute("CREATE TABLE unrelated (x INTEGER)")  # another projection's table
        uow.tx.execute("INSERT INTO unrelated VALUES (1)")
    assert await ledger.rebuild(store) == 40
    rows = ledger.model.fetch_all("SELECT account, balance FROM balances")
    assert {r["account"]: r["balance"] for r in rows} == expected_balances(40)
    assert ledger.model.fetch_value("SELECT count(*) FROM unrelated") == 1
    indexes = ledger.model.fetch_all("SELECT name FROM sqlite_master WHERE type = 'index'")
    assert {"name": "balances_by_balance"} in indexes
    assert await ledger.lag(store) == 0


@pytest.mark.asyncio
async def test_a_first_rebuild_creates_the_model(store: EventStore, ledger: Ledger) -> None:
    await fill(store, 12)
    assert await ledger.rebuild(store) == 12
    assert ledger.model.fetch_value("SELECT count(*) FROM applied") == 12
    assert await ledger.catch_up(store) == 0


@pytest.mark.asyncio
async def test_a_failed_rebuild_leaves_the_live_model_alone(
    store: EventStore, ledger: Ledger, tmp_path: Path
) -> None:
    await fill(store, 20)
    await ledger.catch_up(store)
    before = _state(ledger.model)

    class Stricter(Ledger):
        @handles
        def renamed(self, event: Renamed, tx: SQLiteTransaction) -> None:
            raise RuntimeError("renames are not allowed")

    await store.append("a1", [NewEvent("Renamed", Renamed("a1", "x"))])
    stricter = Stricter(ledger.model)
    with pytest.raises(ProjectionError, match="renames are not allowed"):
        await stricter.rebuild(store)
    assert _state(ledger.model) == before
    assert not [p for p in os.listdir(tmp_path) if "rebuild" in p]


@pytest.mark.asyncio
async def test_a_rebuild_finishes_under_a_writer_that_never_pauses(
    store: EventStore, ledger: Ledger
) -> None:
    """The swap applies what arrived since the replay only up to the head it
    found when it began: a writer that keeps going cannot keep it open."""
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
    rebuilder = Ledger(SQLiteReadModel(ledger.model.path))
    try:
        async with asyncio.timeout(60):
            replayed = await rebuilder.rebuild(store)
    finally:
        stop.set()
        await writes
    assert replayed >= 300
    assert calls > 0
    accounts, total, applied, implied, checkpoint = _state(ledger.model)
    assert accounts == 5
    assert applied == checkpoint  # a prefix of the log, each event once
    assert total == implied
    await ledger.catch_up(store)  # the rest is the live projection's, as usual
    final = _state(ledger.model)
    head = await store.last_position()
    assert final[2] == head == final[4] == 300 + 5 * calls
    balances = ledger.model.fetch_all("SELECT account, balance FROM balances")
    expected = _merged(expected_balances(300), [expected_balances(5)] * calls)
    assert {r["account"]: r["balance"] for r in balances} == expected
    await rebuilder.model.close()
