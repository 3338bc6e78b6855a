"""Contract: ``read_all(correlation_id=...)`` and ``subscribe(correlation_id=...)``,
the retry flag of ``AppendResult``, and the store's identity."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ...context import metadata_context
from ...events import NewEvent, RecordedEvent
from ...store import EventStore
from ._base import ContractBase, collect


def corr(cid: Any, type: str = "Happened", **data: Any) -> NewEvent:
    """A NewEvent whose metadata holds ``correlation_id = cid``."""
    return NewEvent(type, data, metadata={"correlation_id": cid, "actor": "ann"})


class CorrelationContract(ContractBase):
    @pytest.mark.asyncio
    async def test_read_all_by_correlation_id_finds_exactly_those(self, store: EventStore) -> None:
        await store.append("order-1", [corr("c-1", "Placed", n=1), corr("c-2", n=2)])
        await store.append("user-1", [NewEvent("Noted", {"n": 3})])  # no metadata
        await store.append("user-1", [NewEvent("Noted", {"n": 4}, metadata={"actor": "bob"})])
        await store.append("order-2", [corr("c-1", "Paid", n=5)])
        await store.append("order-1", [corr(7, n=6), corr("7", n=7), corr(None, n=8)])
        await store.append("user-2", [corr("c-1", "Placed", n=9), corr("C-1", n=10)])
        await store.append("user-3", [corr("c-1x", n=11), corr("c", n=12)])

        async def ns(**kw: Any) -> list[int]:
            return [e.data["n"] for e in await collect(store.read_all(**kw))]

        assert await ns(correlation_id="c-1") == [1, 5, 9]
        found = await collect(store.read_all(correlation_id="c-1"))
        positions = [e.position for e in found]
        assert positions == sorted(set(positions))
        assert all(e.metadata["correlation_id"] == "c-1" for e in found)
        assert await ns(correlation_id="c-2") == [2]
        assert await ns(correlation_id="7") == [7]  # a str, not the number 7
        assert await ns(correlation_id="C-1") == [10]  # case-sensitive
        assert await ns(correlation_id="c") == [12]  # not a prefix match
        assert await ns(correlation_id="nobody") == []
        assert await ns(correlation_id="") == []
        # combined (AND) with after, limit, types and stream_prefix
        assert await ns(correlation_id="c-1", after=positions[0]) == [5, 9]
        assert await ns(correlation_id="c-1", limit=2) == [1, 5]
        assert await ns(correlation_id="c-1", types=["Placed"]) == [1, 9]
        assert await ns(correlation_id="c-1", types=[]) == []
        assert await ns(correlation_id="c-1", stream_prefix="order-") == [1, 5]
        assert await ns(correlation_id="c-1", stream_prefix="user-", types=["Placed"]) == [9]
        assert await ns(correlation_id="c-1", stream_prefix="order-", after=positions[1]) == []
        assert await ns(correlation_id="c-1", after=positions[-1]) == []
        assert await ns(correlation_id=None) == list(range(1, 13))

    @pytest.mark.asyncio
    async def test_correlation_ids_from_the_ambient_context_are_found(
        self, store: EventStore
    ) -> None:
        with metadata_context(correlation_id="req-9", causation_id="cmd-1"):
            await store.append("acct", [NewEvent("Deposited", {"n": 1})])
            # the event's own metadata wins, key by key
            await store.append("acct", [corr("own", n=2)])
        await store.append("acct", [NewEvent("Deposited", {"n": 3})])
        assert [e.data["n"] for e in await collect(store.read_all(correlation_id="req-9"))] == [1]
        assert [e.data["n"] for e in await collect(store.read_all(correlation_id="own"))] == [2]

    @pytest.mark.asyncio
    async def test_correlation_ids_compare_exactly(self, store: EventStore) -> None:
        odd = ["x\x00y", "x", "x\x00", "é", "e\u0301", "🎉", 'quote"d', "back\\slash", "a.b"]
        for i, cid in enumerate(odd):
            await store.append("s", [corr(cid, n=i)])
        for i, cid in enumerate(odd):
            got = await collect(store.read_all(correlation_id=cid))
            assert [e.data["n"] for e in got] == [i], cid
        # nested or differently named keys are not the correlation id
        await store.append(
            "s", [NewEvent("X", {"n": 99}, metadata={"inner": {"correlation_id": "x"}})]
        )
        await store.append("s", [NewEvent("X", {"n": 98}, metadata={"correlation": "x"})])
        assert [e.data["n"] for e in await collect(store.read_all(correlation_id="x"))] == [1]

    @pytest.mark.asyncio
    async def test_correlation_reads_page_through_many_events(self, store: EventStore) -> None:
        n = store.page_size + 40
        for start in range(0, n, 100):
            batch = []
            for i in range(start, min(n, start + 100)):
                batch.append(corr("busy", n=i))
                batch.append(NewEvent("Other", {"n": -i}))
            await store.append("big", batch)
        got = await collect(store.read_all(correlation_id="busy"))
        assert [e.data["n"] for e in got] == list(range(n))
        limited = await collect(store.read_all(correlation_id="busy", limit=store.page_size + 3))
        assert len(limited) == store.page_size + 3
        later = await collect(store.read_all(correlation_id="busy", after=got[-5].position))
        assert [e.data["n"] for e in later] == list(range(n - 4, n))

    @pytest.mark.asyncio
    async def test_deleted_and_pruned_events_leave_the_correlation_index(
        self, store: EventStore
    ) -> None:
        await store.append("gone", [corr("c", n=1), corr("c", n=2)])
        await store.append("kept", [corr("c", n=3)])
        await store.append("ticks", [corr("c", n=i) for i in range(4, 8)])
        await store.delete_stream("gone", hard=True)
        await store.set_stream_limits("ticks", max_count=2)
        await store.append("ticks", [corr("c", n=8)])
        got = [e.data["n"] for e in await collect(store.read_all(correlation_id="c"))]
        assert got == [3, 7, 8]
        # a soft delete keeps the events in the global log, for audit
        await store.delete_stream("kept")
        assert [e.data["n"] for e in await collect(store.read_all(correlation_id="c"))] == got
        await store.set_stream_limits("ticks", max_age=timedelta(microseconds=1))
        await asyncio.sleep(0.01)
        await store.set_stream_limits("ticks", max_age=timedelta(microseconds=1))
        assert [e.data["n"] for e in await collect(store.read_all(correlation_id="c"))] == [3]

    @pytest.mark.asyncio
    async def test_subscribe_by_correlation_id(self, store: EventStore) -> None:
        await store.append("a", [corr("c-1", n=1), corr("c-2", n=2)])
        got: list[RecordedEvent] = []
        done = asyncio.Event()

        async def follow() -> None:
            async for e in store.subscribe(correlation_id="c-1"):
                got.append(e)
                if len(got) == 3:
                    done.set()
                    return

        task = asyncio.create_task(follow())
        try:
            await store.append("b", [corr("c-2", n=3), NewEvent("X", {"n": 4})])
            await store.append("b", [corr("c-1", n=5)])
            await store.append("c", [corr("c-1", n=6), corr("c-3", n=7)])
            await asyncio.wait_for(done.wait(), 10)
        finally:
            task.cancel()
        assert [e.data["n"] for e in got] == [1, 5, 6]

    @pytest.mark.asyncio
    async def test_correlation_id_must_be_a_str(self, store: EventStore) -> None:
        with pytest.raises(TypeError):
            store.read_all(correlation_id=7)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            store.subscribe(correlation_id=b"c")  # type: ignore[arg-type]

    @pytest.mark.asyncio
    async def test_append_results_say_whether_they_were_retries(self, store: EventStore) -> None:
        batch = [NewEvent("Deposited", {"n": 1}), NewEvent("Deposited", {"n": 2})]
        first = await store.append("acct", batch)
        again = await store.append("acct", batch, expected_version=0)
        assert not first.retried
        assert again.retried
        assert again == first  # the flag takes no part in comparisons
        assert (again.first_version, again.last_version, again.position) == (1, 2, first.position)
        other = [NewEvent("Deposited", {"n": 3})]
        results = await store.append_many({"acct": (batch, 0), "other": (other, 0)})
        assert results["acct"].retried
        assert results["acct"] == first
        assert not results["other"].retried
        assert (await store.append_many({"other": (other, 5)}))["other"].retried

    @pytest.mark.asyncio
    async def test_a_store_has_an_identity(self, tmp_path: Path) -> None:
        one = await self.make_store(tmp_path)
        try:
            first = await one.store_id()
            assert isinstance(first, str)
            assert len(first) >= 16
            assert await one.store_id() == first
            await one.append("s", [NewEvent("X", {})])
            assert await one.store_id() == first
        finally:
            await one.close()
        other = await self.make_store(tmp_path)
        try:
            assert await other.store_id() != first
        finally:
            await other.close()

    @pytest.mark.asyncio
    async def test_the_head_position_outlives_a_hard_delete(self, store: EventStore) -> None:
        assert await store.head_position() == 0
        await store.append("kept", [NewEvent("X", {})])
        r = await store.append("erased", [NewEvent("X", {}), NewEvent("X", {})])
        assert await store.head_position() == await store.last_position() == r.position
        await store.delete_stream("erased", hard=True)
        assert await store.last_position() < r.position
        assert await store.head_position() == r.position  # positions are never reused
        again = await store.append("kept", [NewEvent("X", {})])
        assert again.position > r.position
        assert await store.head_position() == again.position
