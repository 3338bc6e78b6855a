"""Contract: reading one stream and the global log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ...store import EventStore
from ._base import ContractBase, collect, ev


async def _fill(store: EventStore, stream: str, n: int) -> None:
    await store.append(stream, [ev(n=i) for i in range(1, n + 1)])


class ReadContract(ContractBase):
    @pytest.mark.asyncio
    async def test_read_forwards_backwards_from_version_and_limit(self, store: EventStore) -> None:
        await _fill(store, "s", 5)

        async def versions(**kw: object) -> list[int]:
            return [e.version for e in await collect(store.read("s", **kw))]  # type: ignore[arg-type]

        assert await versions() == [1, 2, 3, 4, 5]
        assert await versions(backwards=True) == [5, 4, 3, 2, 1]
        assert await versions(from_version=3) == [3, 4, 5]
        assert await versions(from_version=3, backwards=True) == [3, 2, 1]
        assert await versions(from_version=3, limit=1) == [3]
        assert await versions(limit=2) == [1, 2]
        assert await versions(limit=2, backwards=True) == [5, 4]
        assert await versions(limit=0) == []
        assert await versions(from_version=9) == []
        assert await versions(from_version=9, backwards=True) == [5, 4, 3, 2, 1]
        assert await versions(from_version=0) == [1, 2, 3, 4, 5]

    @pytest.mark.asyncio
    async def test_missing_stream_reads_as_empty(self, store: EventStore) -> None:
        assert await collect(store.read("nope")) == []
        assert await collect(store.read("nope", backwards=True)) == []
        assert await store.stream_version("nope") == 0

    @pytest.mark.asyncio
    async def test_read_arguments_are_checked(self, store: EventStore) -> None:
        with pytest.raises(ValueError):
            store.read("s", limit=-1)
        with pytest.raises(TypeError):
            store.read("s", limit=True)
        with pytest.raises(ValueError):
            store.read("s", from_version=-2)
        with pytest.raises(TypeError, match="aware"):
            store.read("s", as_of=datetime.now())
        with pytest.raises(ValueError):
            store.read_all(after=-1)
        with pytest.raises(TypeError):
            store.read_all(types="Deposited")

    @pytest.mark.asyncio
    async def test_as_of_returns_state_at_a_time(self, store: EventStore) -> None:
        await store.append("acct", [ev("Deposited", amount=10)])
        await asyncio.sleep(0.02)
        middle = datetime.now(UTC)
        await asyncio.sleep(0.02)
        await store.append("acct", [ev("Deposited", amount=5), ev("Withdrawn", amount=3)])
        then = await collect(store.read("acct", as_of=middle))
        assert [e.data for e in then] == [{"amount": 10}]
        assert all(e.recorded_at <= middle for e in then)
        now = await collect(store.read("acct", as_of=datetime.now(UTC) + timedelta(seconds=1)))
        assert len(now) == 3
        before = await collect(store.read("acct", as_of=middle - timedelta(hours=1)))
        assert before == []
        # as_of combines with the other arguments; a non-UTC zone is converted
        other_zone = middle.astimezone(__import__("datetime").timezone(timedelta(hours=5)))
        assert len(await collect(store.read("acct", as_of=other_zone))) == 1
        back = await collect(store.read("acct", as_of=middle, backwards=True))
        assert [e.version for e in back] == [1]

    @pytest.mark.asyncio
    async def test_recorded_at_never_decreases_within_a_stream(self, store: EventStore) -> None:
        for i in range(20):
            await store.append("s", [ev(i=i)])
        times = [e.recorded_at for e in await collect(store.read("s"))]
        assert times == sorted(times)

    @pytest.mark.asyncio
    async def test_read_all_after_limit_and_order(self, store: EventStore) -> None:
        await _fill(store, "a", 3)
        await _fill(store, "b", 3)
        everything = await collect(store.read_all())
        assert len(everything) == 6
        positions = [e.position for e in everything]
        assert positions == sorted(set(positions))
        assert len(positions) == 6
        assert all(p > 0 for p in positions)
        after = await collect(store.read_all(after=positions[2]))
        assert [e.position for e in after] == positions[3:]
        assert [e.position for e in await collect(store.read_all(limit=2))] == positions[:2]
        assert await collect(store.read_all(after=positions[-1])) == []
        assert await collect(store.read_all(limit=0)) == []
        assert await store.last_position() == positions[-1]

    @pytest.mark.asyncio
    async def test_read_all_filters_apply_before_limit(self, store: EventStore) -> None:
        await store.append("order-1", [ev("Created"), ev("Paid")])
        await store.append("user-1", [ev("Created"), ev("Renamed")])
        await store.append("order-2", [ev("Created"), ev("Shipped")])
        created = await collect(store.read_all(types=["Created"], limit=2))
        assert [e.stream for e in created] == ["order-1", "user-1"]
        orders = await collect(store.read_all(stream_prefix="order-"))
        assert [e.type for e in orders] == ["Created", "Paid", "Created", "Shipped"]
        both = await collect(store.read_all(stream_prefix="order-", types=["Paid", "Shipped"]))
        assert [(e.stream, e.type) for e in both] == [("order-1", "Paid"), ("order-2", "Shipped")]
        assert len(await collect(store.read_all(stream_prefix=""))) == 6
        assert await collect(store.read_all(types=[])) == []

    @pytest.mark.asyncio
    async def test_stream_prefix_is_plain_and_case_sensitive(self, store: EventStore) -> None:
        for name in ["a_b", "axb", "a%c", "abc", "A_b", "a\\_b"]:
            await store.append(name, [ev()])
        assert [e.stream for e in await collect(store.read_all(stream_prefix="a_"))] == ["a_b"]
        assert [e.stream for e in await collect(store.read_all(stream_prefix="a%"))] == ["a%c"]
        assert [e.stream for e in await collect(store.read_all(stream_prefix="A"))] == ["A_b"]
        assert [e.stream for e in await collect(store.read_all(stream_prefix="a\\"))] == ["a\\_b"]
        assert await store.streams("a_") == ["a_b"]
        assert await store.streams("a%") == ["a%c"]

    @pytest.mark.asyncio
    async def test_read_all_pages_through_large_logs(self, store: EventStore) -> None:
        n = store.page_size * 2 + 7
        for start in range(0, n, 100):
            await store.append("big", [ev(i=i) for i in range(start, min(n, start + 100))])
        got = await collect(store.read_all())
        assert [e.data["i"] for e in got] == list(range(n))
        limited = await collect(store.read_all(limit=store.page_size + 3))
        assert len(limited) == store.page_size + 3
        evens = await collect(store.read_all(after=got[10].position, limit=5))
        assert [e.data["i"] for e in evens] == [11, 12, 13, 14, 15]
        assert len(await collect(store.read("big"))) == n
        assert [e.version for e in await collect(store.read("big", backwards=True, limit=3))] == [
            n,
            n - 1,
            n - 2,
        ]

    @pytest.mark.asyncio
    async def test_each_read_decodes_its_own_copy(self, store: EventStore) -> None:
        await store.append("s", [ev(items=[1, 2])])
        (first,) = await collect(store.read("s"))
        first.data["items"].append(3)
        first.metadata["x"] = 1
        (second,) = await collect(store.read("s"))
        assert second.data == {"items": [1, 2]}
        assert second.metadata == {}
