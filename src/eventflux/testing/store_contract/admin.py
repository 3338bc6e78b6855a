"""Contract: stream listing, deletion, retention limits, snapshots."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ...exceptions import DeserializationError, StreamDeletedError
from ...store import EventStore, StreamLimits
from ._base import ContractBase, collect, ev


class AdminContract(ContractBase):
    @pytest.mark.asyncio
    async def test_streams_lists_by_prefix(self, store: EventStore) -> None:
        assert await store.streams() == []
        for name in ["order-2", "order-1", "user-1"]:
            await store.append(name, [ev()])
        assert await store.streams() == ["order-1", "order-2", "user-1"]
        assert await store.streams("order-") == ["order-1", "order-2"]
        assert await store.streams("zzz") == []

    @pytest.mark.asyncio
    async def test_soft_delete_hides_stream_and_keeps_numbering(self, store: EventStore) -> None:
        await store.append("s", [ev(n=1), ev(n=2)])
        await store.append("keep", [ev(n=0)])
        await store.delete_stream("s")
        assert await collect(store.read("s")) == []
        assert await store.streams() == ["keep"]
        assert await store.stream_version("s") == 2
        assert len(await collect(store.read_all())) == 3  # the global log keeps history
        r = await store.append("s", [ev(n=3)], expected_version=2)
        assert r.first_version == 3
        assert [e.data["n"] for e in await collect(store.read("s"))] == [3]
        assert await store.streams() == ["keep", "s"]
        await store.delete_stream("missing")  # deleting a missing stream is a no-op

    @pytest.mark.asyncio
    async def test_hard_delete_erases_and_forbids_appends(self, store: EventStore) -> None:
        await store.append("s", [ev(n=1), ev(n=2)])
        await store.append("keep", [ev(n=0)])
        await store.save_snapshot("s", 2, {"total": 3})
        await store.delete_stream("s", hard=True)
        assert await collect(store.read("s")) == []
        assert [e.stream for e in await collect(store.read_all())] == ["keep"]
        assert await store.streams() == ["keep"]
        assert await store.load_snapshot("s") is None
        with pytest.raises(StreamDeletedError):
            await store.append("s", [ev()])
        with pytest.raises(StreamDeletedError):
            await store.append_many({"keep": ([ev()], 1), "s": ([ev()], 0)})
        assert await store.stream_version("keep") == 1

    @pytest.mark.asyncio
    async def test_max_count_keeps_newest_events(self, store: EventStore) -> None:
        await store.set_stream_limits("ticks", max_count=3)
        assert await store.stream_limits("ticks") == StreamLimits(max_count=3)
        for i in range(1, 8):
            await store.append("ticks", [ev(i=i)])
        got = await collect(store.read("ticks"))
        assert [e.version for e in got] == [5, 6, 7]
        assert await store.stream_version("ticks") == 7
        assert [e.version for e in await collect(store.read("ticks", backwards=True))] == [7, 6, 5]
        await store.set_stream_limits("ticks")
        assert await store.stream_limits("ticks") == StreamLimits()
        await store.append("ticks", [ev(i=8)])
        assert [e.version for e in await collect(store.read("ticks"))][-1] == 8

    @pytest.mark.asyncio
    async def test_max_age_hides_old_events(self, store: EventStore) -> None:
        await store.append("s", [ev(i=1)])
        await store.set_stream_limits("s", max_age=timedelta(microseconds=1))
        assert await collect(store.read("s")) == []
        await store.set_stream_limits("s", max_age=timedelta(hours=1))
        await store.append("s", [ev(i=2)])
        assert [e.data["i"] for e in await collect(store.read("s"))] == [2]

    @pytest.mark.asyncio
    async def test_limit_arguments_are_checked(self, store: EventStore) -> None:
        with pytest.raises(ValueError):
            await store.set_stream_limits("s", max_count=0)
        with pytest.raises(TypeError):
            await store.set_stream_limits("s", max_count=2.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await store.set_stream_limits("s", max_age=60)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await store.set_stream_limits("s", max_age=timedelta(seconds=-1))
        assert await store.stream_limits("s") == StreamLimits()

    @pytest.mark.asyncio
    async def test_snapshots_keep_the_latest(self, store: EventStore) -> None:
        assert await store.load_snapshot("acct") is None
        await store.save_snapshot("acct", 10, {"balance": 100})
        await store.save_snapshot("acct", 20, {"balance": 250})
        snap = await store.load_snapshot("acct")
        assert snap is not None
        assert (snap.stream, snap.version, snap.data, snap.type) == (
            "acct",
            20,
            {"balance": 250},
            "snapshot",
        )
        assert snap.recorded_at.tzinfo is not None
        with pytest.raises(ValueError):
            await store.save_snapshot("acct", 0, {})
        with pytest.raises(TypeError):
            await store.save_snapshot("acct", 5, {1: 2})

    @pytest.mark.asyncio
    async def test_unreadable_snapshot_raises_a_typed_error(self, store: EventStore) -> None:
        from dataclasses import dataclass

        from ...codec import Codec

        codec = Codec()
        store.codec = codec
        await store.save_snapshot("acct", 3, {"wrong": "shape"}, type="AccountState")

        @codec.register("AccountState")
        @dataclass
        class AccountState:
            balance: int

        with pytest.raises(DeserializationError):
            await store.load_snapshot("acct")
