"""Contract: live subscriptions (catch up, then live; no gap, no duplicate)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from ...events import RecordedEvent
from ...store import EventStore
from ._base import ContractBase, ev


async def _take(
    it: AsyncIterator[RecordedEvent], n: int, seconds: float = 10.0
) -> list[RecordedEvent]:
    out: list[RecordedEvent] = []
    async with asyncio.timeout(seconds):
        async for e in it:
            out.append(e)
            if len(out) >= n:
                break
    return out


class SubscribeContract(ContractBase):
    @pytest.mark.asyncio
    async def test_subscribe_catches_up_then_goes_live(self, store: EventStore) -> None:
        await store.append("s", [ev(n=1), ev(n=2)])
        sub = store.subscribe()
        task = asyncio.create_task(_take(sub, 4))
        await asyncio.sleep(0.05)
        await store.append("s", [ev(n=3)])
        await store.append("t", [ev(n=4)])
        got = await task
        assert [e.data["n"] for e in got] == [1, 2, 3, 4]

    @pytest.mark.asyncio
    async def test_subscribe_after_a_checkpoint_and_with_filters(self, store: EventStore) -> None:
        r = await store.append("order-1", [ev("Created", n=1), ev("Paid", n=2)])
        await store.append("user-1", [ev("Created", n=3)])
        task = asyncio.create_task(
            _take(store.subscribe(after=r.position - 1, stream_prefix="order-"), 2)
        )
        task2 = asyncio.create_task(_take(store.subscribe(types=["Created"]), 3))
        await asyncio.sleep(0.05)
        for i in range(50):
            await store.append("user-2", [ev("Renamed", i=i)])
        await store.append("order-2", [ev("Created", n=4)])
        assert [e.data["n"] for e in await task] == [2, 4]
        assert [e.data["n"] for e in await task2] == [1, 3, 4]

    @pytest.mark.asyncio
    async def test_subscribe_under_concurrent_appends_has_no_gap_or_duplicate(
        self, store: EventStore
    ) -> None:
        writers, per_writer = 8, 40
        total = writers * per_writer
        subscribers = [asyncio.create_task(_take(store.subscribe(), total, 60)) for _ in range(3)]

        async def writer(w: int) -> None:
            for i in range(per_writer):
                await store.append(f"w{w}", [ev(w=w, i=i)])
                if i % 7 == 0:
                    await asyncio.sleep(0)

        await asyncio.gather(*(writer(w) for w in range(writers)))
        expected = [e async for e in store.read_all()]
        assert len(expected) == total
        for task in subscribers:
            got = await task
            assert [e.id for e in got] == [e.id for e in expected]
            positions = [e.position for e in got]
            assert positions == sorted(set(positions))

    @pytest.mark.asyncio
    async def test_subscribe_wakes_quickly(self, store: EventStore) -> None:
        received: asyncio.Queue[float] = asyncio.Queue()

        async def consume() -> None:
            async for _ in store.subscribe():
                received.put_nowait(time.perf_counter())

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        delays = []
        for i in range(15):
            start = time.perf_counter()
            await store.append("s", [ev(i=i)])
            delays.append(await asyncio.wait_for(received.get(), 5) - start)
            await asyncio.sleep(0.01)
        task.cancel()
        # the promise is 50 ms; the median keeps this robust on a busy machine
        assert statistics.median(delays) < 0.05, delays

    @pytest.mark.asyncio
    async def test_closing_the_store_ends_subscriptions(self, store: EventStore) -> None:
        await store.append("s", [ev()])
        seen: list[RecordedEvent] = []

        async def consume() -> None:
            async for e in store.subscribe():
                seen.append(e)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        await store.close()
        await asyncio.wait_for(task, 5)  # the iteration ends by itself
        assert len(seen) == 1

    @pytest.mark.asyncio
    async def test_cancelling_or_closing_the_iterator_stops_it(self, store: EventStore) -> None:
        sub = store.subscribe()
        task = asyncio.create_task(_take(sub, 10))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sub2 = store.subscribe()
        assert isinstance(sub2, AsyncGenerator)
        await store.append("s", [ev()])
        first = await sub2.__anext__()
        assert first.stream == "s"
        await sub2.aclose()
        with pytest.raises(StopAsyncIteration):
            await sub2.__anext__()
        # the store keeps working after subscribers went away
        await store.append("s", [ev()])
        assert await store.stream_version("s") == 2
