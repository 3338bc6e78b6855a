"""Contract: appends, expected versions, idempotency, append_many."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest

from ...events import AppendResult, NewEvent
from ...exceptions import ConcurrencyError, DuplicateEventError, StoreClosedError
from ...store import ANY, NO_STREAM, STREAM_EXISTS, EventStore
from ._base import ContractBase, collect, ev


class AppendContract(ContractBase):
    @pytest.mark.asyncio
    async def test_first_event_has_version_one_and_fields(self, store: EventStore) -> None:
        e = NewEvent("Deposited", {"amount": 100}, metadata={"user": "ann"})
        r = await store.append("account-1", [e], expected_version=NO_STREAM)
        assert r == AppendResult(1, 1, r.position)
        assert r.position > 0
        (got,) = await collect(store.read("account-1"))
        assert got.id == e.id
        assert (got.stream, got.version, got.position) == ("account-1", 1, r.position)
        assert (got.type, got.data, got.metadata) == ("Deposited", {"amount": 100}, {"user": "ann"})
        assert got.recorded_at.tzinfo is not None
        assert got.recorded_at.utcoffset() == UTC.utcoffset(None)

    @pytest.mark.asyncio
    async def test_batch_gets_consecutive_versions_and_increasing_positions(
        self, store: EventStore
    ) -> None:
        await store.append("s", [ev(n=0)])
        r = await store.append("s", [ev(n=1), ev(n=2), ev(n=3)], expected_version=1)
        assert (r.first_version, r.last_version) == (2, 4)
        events = await collect(store.read("s"))
        assert [e.version for e in events] == [1, 2, 3, 4]
        assert [e.data["n"] for e in events] == [0, 1, 2, 3]
        positions = [e.position for e in events]
        assert positions == sorted(set(positions))
        assert len(positions) == 4
        assert r.position == positions[-1]

    @pytest.mark.asyncio
    async def test_no_stream_on_existing_stream_conflicts_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        await store.append("s", [ev()], expected_version=NO_STREAM)
        with pytest.raises(ConcurrencyError) as info:
            await store.append("s", [ev()], expected_version=NO_STREAM)
        assert (info.value.stream, info.value.expected, info.value.actual) == ("s", 0, 1)
        assert await store.stream_version("s") == 1
        assert len(await collect(store.read_all())) == 1

    @pytest.mark.asyncio
    async def test_expected_version_int(self, store: EventStore) -> None:
        await store.append("s", [ev(), ev()])
        with pytest.raises(ConcurrencyError) as info:
            await store.append("s", [ev()], expected_version=1)
        assert info.value.actual == 2
        with pytest.raises(ConcurrencyError):
            await store.append("s", [ev()], expected_version=3)
        r = await store.append("s", [ev()], expected_version=2)
        assert r.first_version == 3

    @pytest.mark.asyncio
    async def test_any_and_stream_exists(self, store: EventStore) -> None:
        with pytest.raises(ConcurrencyError):
            await store.append("s", [ev()], expected_version=STREAM_EXISTS)
        assert await store.stream_version("s") == 0
        await store.append("s", [ev()], expected_version=ANY)
        await store.append("s", [ev()], expected_version=STREAM_EXISTS)
        await store.append("s", [ev()])
        assert await store.stream_version("s") == 3

    @pytest.mark.asyncio
    async def test_expected_version_arguments_are_checked(self, store: EventStore) -> None:
        with pytest.raises(TypeError):
            await store.append("s", [ev()], expected_version=True)
        with pytest.raises(ValueError, match="negative"):
            await store.append("s", [ev()], expected_version=-1)
        with pytest.raises(TypeError):
            await store.append("s", [ev()], expected_version="0")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await store.append("s", [ev()], expected_version=1.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="empty"):
            await store.append("s", [])
        with pytest.raises(TypeError):
            await store.append("s", [{"type": "x"}])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            await store.append("s", ev())  # type: ignore[arg-type]
        assert await collect(store.read_all()) == []

    @pytest.mark.asyncio
    async def test_retry_of_stored_batch_returns_original_result(self, store: EventStore) -> None:
        batch = [ev(n=1), ev(n=2)]
        first = await store.append("s", batch, expected_version=NO_STREAM)
        await store.append("s", [ev(n=3)])
        await store.append("other", [ev(n=4)])
        again = await store.append("s", batch, expected_version=NO_STREAM)
        assert again == first
        again_any = await store.append("s", batch, expected_version=7)
        assert again_any == first
        assert await store.stream_version("s") == 3
        assert len(await collect(store.read_all())) == 4

    @pytest.mark.asyncio
    async def test_duplicate_ids_that_are_not_a_retry(self, store: EventStore) -> None:
        a, b, c = ev(n=1), ev(n=2), ev(n=3)
        await store.append("s", [a, b])
        with pytest.raises(DuplicateEventError):  # partly stored
            await store.append("s", [b, c])
        with pytest.raises(DuplicateEventError):  # other stream
            await store.append("t", [a])
        with pytest.raises(DuplicateEventError):  # other order
            await store.append("s", [b, a])
        with pytest.raises(DuplicateEventError):  # twice in one batch
            await store.append("u", [c, c])
        assert await store.stream_version("t") == 0
        assert await store.stream_version("u") == 0
        assert len(await collect(store.read_all())) == 2

    @pytest.mark.asyncio
    async def test_append_many_is_atomic(self, store: EventStore) -> None:
        await store.append("a", [ev()])
        results = await store.append_many(
            {"a": ([ev(n=1)], 1), "b": ([ev(n=2), ev(n=3)], NO_STREAM)}
        )
        assert results["a"].first_version == 2
        assert (results["b"].first_version, results["b"].last_version) == (1, 2)
        assert set(results) == {"a", "b"}
        with pytest.raises(ConcurrencyError):
            await store.append_many({"a": ([ev()], 2), "c": ([ev()], NO_STREAM), "b": ([ev()], 0)})
        assert await store.stream_version("a") == 2
        assert await store.stream_version("c") == 0
        assert len(await collect(store.read_all())) == 4

    @pytest.mark.asyncio
    async def test_append_many_rejects_one_id_in_two_streams(self, store: EventStore) -> None:
        e = ev()
        with pytest.raises(DuplicateEventError):
            await store.append_many({"a": ([e], ANY), "b": ([e], ANY)})
        assert await collect(store.read_all()) == []
        with pytest.raises(ValueError, match="at least one"):
            await store.append_many({})
        with pytest.raises(TypeError):
            await store.append_many({"a": [ev()]})  # type: ignore[dict-item]

    @pytest.mark.asyncio
    async def test_append_many_retry_returns_original_results(self, store: EventStore) -> None:
        spec = {"a": ([ev(n=1)], NO_STREAM), "b": ([ev(n=2)], NO_STREAM)}
        first = await store.append_many(spec)
        assert await store.append_many(spec) == first
        assert len(await collect(store.read_all())) == 2

    @pytest.mark.asyncio
    async def test_concurrent_appends_at_one_expected_version_have_one_winner(
        self, store: EventStore
    ) -> None:
        await store.append("race", [ev()])

        async def attempt(i: int) -> bool:
            try:
                await store.append("race", [ev(i=i)], expected_version=1)
            except ConcurrencyError:
                return False
            return True

        outcomes = await asyncio.gather(*(attempt(i) for i in range(20)))
        assert sum(outcomes) == 1
        assert await store.stream_version("race") == 2

    @pytest.mark.asyncio
    async def test_concurrent_appends_to_many_streams_all_land(self, store: EventStore) -> None:
        async def writer(w: int) -> None:
            for i in range(10):
                await store.append(f"w-{w}", [ev(i=i)], expected_version=i)

        await asyncio.gather(*(writer(w) for w in range(16)))
        events = await collect(store.read_all())
        assert len(events) == 160
        positions = [e.position for e in events]
        assert positions == sorted(set(positions))
        for w in range(16):
            assert [e.data["i"] for e in await collect(store.read(f"w-{w}"))] == list(range(10))

    @pytest.mark.asyncio
    async def test_closed_store_refuses_work(self, store: EventStore) -> None:
        await store.close()
        assert store.closed
        with pytest.raises(StoreClosedError):
            await store.append("s", [ev()])
        with pytest.raises(StoreClosedError):
            store.read("s")
        await store.close()  # closing twice is fine
