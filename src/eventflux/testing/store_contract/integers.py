"""Contract: versions, positions, counts and limits are ints from 0 to 2**63 - 1
(what every backend stores), checked before a backend sees them; the largest
ones work; one append's bad input never fails the appends grouped with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from ...events import NewEvent
from ...exceptions import (
    ArgumentTypeError,
    ConcurrencyError,
    EventfluxError,
    InvalidArgumentError,
)
from ...store import EventStore, StreamLimits
from ._base import ContractBase, collect, ev

BIG = 2**63  # one beyond the largest int a store keeps
LARGEST = 2**63 - 1

TOO_LARGE: list[tuple[str, Callable[[EventStore], Any]]] = [
    ("expected_version", lambda s: s.append("s", [ev()], expected_version=BIG)),
    ("expected_version 2**64", lambda s: s.append("s", [ev()], expected_version=2**64)),
    ("append_many", lambda s: s.append_many({"s": ([ev()], BIG)})),
    ("read from_version", lambda s: collect(s.read("s", from_version=2**64))),
    ("read backwards", lambda s: collect(s.read("s", from_version=BIG, backwards=True))),
    ("read limit", lambda s: collect(s.read("s", limit=BIG))),
    ("read_all after", lambda s: collect(s.read_all(after=2**64))),
    ("read_all limit", lambda s: collect(s.read_all(limit=BIG))),
    ("subscribe after", lambda s: s.subscribe(after=BIG).__anext__()),
    ("max_count", lambda s: s.set_stream_limits("s", max_count=BIG)),
    ("max_age", lambda s: s.set_stream_limits("s", max_age=timedelta.max)),
    ("max_age 1001 years", lambda s: s.set_stream_limits("s", max_age=timedelta(days=365_616))),
    ("snapshot version", lambda s: s.save_snapshot("s", BIG, {"x": 1})),
    ("negative after", lambda s: collect(s.read_all(after=-1))),
    ("zero max_count", lambda s: s.set_stream_limits("s", max_count=0)),
    ("empty events", lambda s: s.append("s", [])),
    ("empty append_many", lambda s: s.append_many({})),
]

# the calls are deliberately wrongly typed: the store is Any here
WRONG_TYPE: list[tuple[str, Callable[[Any], Any]]] = [
    ("expected_version str", lambda s: s.append("s", [ev()], expected_version="1")),
    ("expected_version bool", lambda s: s.append("s", [ev()], expected_version=True)),
    ("expected_version float", lambda s: s.append("s", [ev()], expected_version=1.0)),
    ("from_version str", lambda s: collect(s.read("s", from_version="1"))),
    ("limit float", lambda s: collect(s.read_all(limit=1.5))),
    ("after None", lambda s: collect(s.read_all(after=None))),
    ("types int", lambda s: collect(s.read_all(types=5))),
    ("max_age int", lambda s: s.set_stream_limits("s", max_age=5)),
    ("events not a list", lambda s: s.append("s", ev())),
    ("append_many list", lambda s: s.append_many([("s", [ev()])])),
    ("streams prefix", lambda s: s.streams(5)),
]


async def _call(fn: Callable[[EventStore], Any], store: EventStore) -> None:
    result = fn(store)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result


class IntegerContract(ContractBase):
    @pytest.mark.asyncio
    @pytest.mark.parametrize(("what", "call"), TOO_LARGE, ids=[w for w, _ in TOO_LARGE])
    async def test_values_out_of_range_are_typed_errors(
        self, store: EventStore, what: str, call: Callable[[EventStore], Any]
    ) -> None:
        await store.append("s", [ev(n=1)])
        with pytest.raises(InvalidArgumentError) as info:
            await _call(call, store)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, EventfluxError)
        assert [e.data async for e in store.read_all()] == [{"n": 1}]
        assert await store.stream_limits("s") == StreamLimits()
        assert await store.load_snapshot("s") is None

    @pytest.mark.asyncio
    @pytest.mark.parametrize(("what", "call"), WRONG_TYPE, ids=[w for w, _ in WRONG_TYPE])
    async def test_values_of_the_wrong_type_are_typed_errors(
        self, store: EventStore, what: str, call: Callable[[EventStore], Any]
    ) -> None:
        with pytest.raises(ArgumentTypeError) as info:
            await _call(call, store)
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, EventfluxError)
        assert await collect(store.read_all()) == []

    @pytest.mark.asyncio
    async def test_the_largest_values_work(self, store: EventStore) -> None:
        await store.append("s", [ev(n=1), ev(n=2)])
        with pytest.raises(ConcurrencyError) as info:
            await store.append("s", [ev()], expected_version=LARGEST)
        assert info.value.actual == 2
        with pytest.raises(ConcurrencyError):
            await store.append("new", [ev()], expected_version=LARGEST)
        with pytest.raises(ConcurrencyError):
            await store.append_many({"s": ([ev()], 2), "new": ([ev()], LARGEST)})
        assert await store.stream_version("new") == 0
        assert await collect(store.read("s", from_version=LARGEST)) == []
        back = await collect(store.read("s", from_version=LARGEST, backwards=True))
        assert [e.version for e in back] == [2, 1]
        assert len(await collect(store.read("s", limit=LARGEST))) == 2
        assert await collect(store.read_all(after=LARGEST)) == []
        assert len(await collect(store.read_all(limit=LARGEST))) == 2
        await store.set_stream_limits("s", max_count=LARGEST, max_age=timedelta(days=365_250))
        assert len(await collect(store.read("s"))) == 2
        await store.append("s", [ev(n=3)])
        assert len(await collect(store.read("s"))) == 3
        await store.save_snapshot("s", LARGEST, {"x": 1})
        snapshot = await store.load_snapshot("s")
        assert snapshot is not None
        assert snapshot.version == LARGEST

    @pytest.mark.asyncio
    async def test_one_bad_append_never_fails_the_others_of_its_group(
        self, store: EventStore
    ) -> None:
        await store.append("s", [ev()])

        async def good(name: str) -> int:
            r = await store.append(name, [ev()], expected_version=0)
            return r.first_version

        async def bad(kind: int) -> BaseException | None:
            try:
                if kind == 0:
                    await store.append("s", [ev()], expected_version=LARGEST)
                elif kind == 1:
                    await store.append("fresh", [ev()], expected_version=LARGEST)
                elif kind == 2:
                    await store.append("s", [ev()], expected_version=BIG)
                else:
                    await store.append("s", [NewEvent("X", {"x": 2**64})])
            except EventfluxError as e:
                return e
            return None

        for round in range(3):
            tasks: list[asyncio.Future[Any]] = []
            for i in range(40):
                tasks.append(asyncio.ensure_future(good(f"good-{round}-{i}")))
                if i % 10 == 0:
                    tasks.append(asyncio.ensure_future(bad(i // 10)))
            results = await asyncio.gather(*tasks)
            errors = [r for r in results if not isinstance(r, int)]
            assert len(errors) == 4
            assert isinstance(errors[0], ConcurrencyError)
            assert isinstance(errors[1], ConcurrencyError)
            assert isinstance(errors[2], InvalidArgumentError)
            assert isinstance(errors[3], TypeError)  # SerializationError: an int beyond 64 bits
            assert [r for r in results if isinstance(r, int)] == [1] * 40
            await store.delete_stream("fresh", hard=False)
        assert await store.stream_version("s") == 1
