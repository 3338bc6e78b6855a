"""A read model belongs to one event store, on every read model: another store is
refused before anything changes, a checkpoint beyond the store's head is an
error (never a lag of 0), a rebuild never swaps an empty model over a live one
unless forced, and a model made before store ids adopts its store on first run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from tests.cqrs._cqrs_domain import Ledger, codec, expected_balances, fill
from tests.cqrs._places import ReadPlace

from eventflux import (
    CheckpointAheadError,
    EventStore,
    UnsafeRebuildError,
    WrongStoreError,
    open_store,
)
from eventflux.cqrs import Projection, ReadModel

Operation = Callable[[Projection, EventStore], Awaitable[object]]

#: what a projection does with a store: each must check the store first
OPERATIONS: dict[str, Operation] = {
    "catch_up": lambda p, s: p.catch_up(s),
    "run": lambda p, s: p.run(s),
    "rebuild": lambda p, s: p.rebuild(s),
    "status": lambda p, s: p.status(s),
    "lag": lambda p, s: p.lag(s),
}


async def _state(model: ReadModel) -> tuple[dict[str, int], int, int, str | None]:
    """The ledger's balances, rows applied, checkpoint and store id."""
    rows = await model.fetch_all("SELECT account, balance FROM balances")
    applied = int(await model.fetch_value("SELECT count(*) FROM applied"))
    balances = {r["account"]: int(r["balance"]) for r in rows}
    return balances, applied, await model.checkpoint("ledger"), await model.store_id("ledger")


async def _other_store(tmp_path: Path, events: int) -> EventStore:
    store = await open_store(f"sqlite:///{tmp_path}/other-events.db", codec=codec)
    await fill(store, events)
    return store


@pytest.mark.asyncio
async def test_another_store_is_refused_and_nothing_changes(
    place: ReadPlace, tmp_path: Path
) -> None:
    async with await open_store(place.store_url, codec=codec) as store:
        await fill(store, 10)
        model = place.open()
        assert await Ledger(model).catch_up(store) == 10
        before = await _state(model)
        assert before == (expected_balances(10), 10, 10, await store.store_id())
        async with await _other_store(tmp_path, 30) as other:  # its head is beyond ours
            for name, operation in OPERATIONS.items():
                with pytest.raises(WrongStoreError, match="was built from the event store") as e:
                    await asyncio.wait_for(operation(Ledger(place.open()), other), 30)
                assert "rebuild --force" in str(e.value), name
                assert await _state(model) == before, name
            assert await place.leftovers() == []  # the refused rebuild made no scratch
        assert await Ledger(model).catch_up(store) == 0  # its own store still works
        await fill(store, 3)
        assert await Ledger(model).catch_up(store) == 3


@pytest.mark.asyncio
async def test_a_runner_of_the_old_store_stops_once_another_store_is_forced_in(
    place: ReadPlace, tmp_path: Path
) -> None:
    async with await open_store(place.store_url, codec=codec) as store:
        await fill(store, 10)
        live = Ledger(place.open())
        running = asyncio.create_task(live.run(store))
        try:
            await asyncio.wait_for(live.wait_for(10), 30)
            async with await _other_store(tmp_path, 6) as other:
                assert await Ledger(place.open()).rebuild(other, force=True) == 6
                model = place.open()
                assert await _state(model) == (
                    expected_balances(6),
                    6,
                    6,
                    await other.store_id(),
                )
                await fill(store, 1)  # the old runner's next batch finds another store's model
                with pytest.raises(WrongStoreError, match="was built from the event store"):
                    await asyncio.wait_for(running, 30)
                assert await _state(model) == (
                    expected_balances(6),
                    6,
                    6,
                    await other.store_id(),
                )
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_checkpoint_beyond_the_head_is_an_error_never_lag_0(
    place: ReadPlace, tmp_path: Path
) -> None:
    live_url = f"sqlite:///{tmp_path}/live-events.db"
    backup = tmp_path / "backup.db"
    model = place.open()
    async with await open_store(live_url, codec=codec) as store:
        await fill(store, 5)
        await store.backup(backup)
        await fill(store, 10)
        assert await Ledger(model).catch_up(store) == 15
    before = await _state(model)
    # the store is restored from the backup: the same store, but its events 6-15 are gone
    async with await open_store(f"sqlite:///{backup}", codec=codec) as restored:
        for name, operation in OPERATIONS.items():
            if name == "rebuild":
                continue
            with pytest.raises(CheckpointAheadError, match="up to position 15") as e:
                await asyncio.wait_for(operation(Ledger(place.open()), restored), 30)
            assert "the event store ends at 5" in str(e.value), name
            assert await _state(model) == before, name
        # a rebuild is the repair: the model becomes the fold of the events that remain
        assert await Ledger(model).rebuild(restored) == 5
        assert await _state(model) == (expected_balances(5), 5, 5, await restored.store_id())
        status = await Ledger(model).status(restored)
        assert (status.checkpoint, status.head, status.lag) == (5, 5, 0)


@pytest.mark.asyncio
async def test_an_empty_rebuild_over_a_live_model_needs_force(place: ReadPlace) -> None:
    async with await open_store(place.store_url, codec=codec) as store:
        await fill(store, 10)
        model = place.open()
        assert await Ledger(model).catch_up(store) == 10
        before = await _state(model)
        for stream in await store.streams(""):
            await store.delete_stream(stream, hard=True)  # every event erased
        with pytest.raises(UnsafeRebuildError, match="would swap an empty model in") as e:
            await Ledger(model).rebuild(store)
        assert "force=True" in str(e.value)
        assert await _state(model) == before
        assert await place.leftovers() == []
        assert await Ledger(model).rebuild(store, force=True) == 0
        assert await _state(model) == ({}, 0, 0, await store.store_id())


@pytest.mark.asyncio
async def test_a_read_model_made_before_store_ids_adopts_its_store_on_first_run(
    place: ReadPlace, tmp_path: Path
) -> None:
    async with await open_store(place.store_url, codec=codec) as store:
        await fill(store, 15)
        first = place.open()
        assert await Ledger(first).catch_up(store) == 15
        await first.close()
        await place.forget_store_ids()
        model = place.open()
        assert await model.store_id("ledger") is None
        status = await Ledger(model).status(store)  # looking works, and adopts nothing
        assert (status.checkpoint, status.lag) == (15, 0)
        assert await model.store_id("ledger") is None
        async with await _other_store(tmp_path, 7) as other:
            # another store whose head is behind the checkpoint: refused, not adopted
            with pytest.raises(CheckpointAheadError, match="ends at 7"):
                await Ledger(model).catch_up(other)
            assert await model.store_id("ledger") is None
            await fill(store, 2)
            live = Ledger(model)
            running = asyncio.create_task(live.run(store))  # the first run adopts the store
            try:
                await asyncio.wait_for(live.wait_for(17), 30)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            assert await _state(model) == (
                expected_balances(17),
                17,
                17,
                await store.store_id(),
            )
            await fill(other, 20)  # now beyond the checkpoint: the store id alone refuses it
            with pytest.raises(WrongStoreError):
                await Ledger(model).catch_up(other)
            with pytest.raises(WrongStoreError):
                await Ledger(model).rebuild(other)
        assert await _state(model) == (expected_balances(17), 17, 17, await store.store_id())
