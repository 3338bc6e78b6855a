"""Contract: bad input is refused before anything is written; unicode; sizes; typed data."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from ...codec import Codec
from ...events import NewEvent
from ...exceptions import (
    AppendTooLargeError,
    EventfluxError,
    EventTooLargeError,
    InvalidEventType,
    InvalidStreamName,
    SerializationError,
)
from ...store import EventStore
from ._base import ContractBase, collect, ev

BAD_DATA: list[Any] = [
    # one rule (eventflux.codec): JSON values only, so what is read equals what was
    # written; UUIDs and times are refused, not turned into text
    {"x": uuid.UUID(int=7)},
    {"x": [1, {"y": uuid.uuid4()}]},
    {"x": datetime(2024, 6, 1, tzinfo=UTC)},
    {"x": date(2024, 6, 1)},
    {"x": time(12, 0)},
    {"x": Decimal("1.5")},
    {"x": {1, 2}},
    {"x": object()},
    {"x": math.nan},
    {"x": [1.0, math.inf]},
    {"x": {"y": -math.inf}},
    {1: "int key"},
    {"x": b"bytes"},
    {"x": 2**70},
    {"x": "\ud800"},
    [1, 2],
    "text",
    None,
]


def _raw_event(type_name: str) -> NewEvent:
    """A NewEvent whose type skipped the constructor's check (as a buggy caller could)."""
    e = NewEvent("Placeholder", {})
    msgspec.structs.force_setattr(e, "type", type_name)
    return e


class InputContract(ContractBase):
    @pytest.mark.asyncio
    @pytest.mark.parametrize("data", BAD_DATA, ids=repr)
    async def test_unserializable_data_is_refused(self, store: EventStore, data: Any) -> None:
        good = ev(n=1)
        with pytest.raises(SerializationError) as info:
            await store.append("s", [good, NewEvent("Bad", data)])
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, EventfluxError)
        assert await collect(store.read_all()) == []

    @pytest.mark.asyncio
    async def test_unserializable_metadata_is_refused(self, store: EventStore) -> None:
        with pytest.raises(SerializationError):
            await store.append("s", [NewEvent("X", {}, metadata={"t": math.nan})])
        with pytest.raises(SerializationError, match="UUID"):
            await store.append("s", [NewEvent("X", {}, metadata={"user": uuid.uuid4()})])
        with pytest.raises(SerializationError):
            await store.append("s", [NewEvent("X", {}, metadata={"at": datetime.now(UTC)})])
        with pytest.raises(SerializationError):
            await store.append("s", [NewEvent("X", {}, metadata={2: "x"})])  # type: ignore[dict-item]
        assert await collect(store.read_all()) == []

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        "name",
        ["", "x" * 256, "a\x00b", "line\nbreak", "tab\there", "del\x7f", "c1\x85", 42, None],
        ids=repr,
    )
    async def test_bad_stream_names_are_refused(self, store: EventStore, name: Any) -> None:
        with pytest.raises(InvalidStreamName) as info:
            await store.append(name, [ev()])
        assert isinstance(info.value, ValueError)
        with pytest.raises(InvalidStreamName):
            store.read(name)
        with pytest.raises(InvalidStreamName):
            await store.append_many({"ok": ([ev()], 0), name: ([ev()], 0)})
        assert await collect(store.read_all()) == []

    @pytest.mark.asyncio
    async def test_stream_names_at_the_edges(self, store: EventStore) -> None:
        longest = "é" * 255
        emoji = "cart-🛒-" + "👩‍👩‍👧" * 10
        for name in [longest, emoji, " spaced name ", "a/b:c#d?e"]:
            await store.append(name, [ev()])
            assert len(await collect(store.read(name))) == 1
        composed, decomposed = "caf\u00e9", "cafe\u0301"
        await store.append(composed, [ev(form="nfc")])
        await store.append(decomposed, [ev(form="nfd")])
        assert [e.data["form"] for e in await collect(store.read(composed))] == ["nfc"]
        assert [e.data["form"] for e in await collect(store.read(decomposed))] == ["nfd"]
        assert await store.streams("caf") == sorted([composed, decomposed])

    @pytest.mark.asyncio
    async def test_unicode_round_trips(self, store: EventStore) -> None:
        data = {
            "emoji": "🎉👩‍💻🇪🇺",
            "combining": "e\u0301\u0327 ñ",
            "nul": "a\u0000b",
            "rtl": "שלום مرحبا",
            "\u0000key": "value",
            "nested": [{"ü": "ß"}, None, True, 1.5, -(2**63)],
        }
        meta = {"who": "Zoë 🧑‍🚀", "nul": "\u0000"}
        await store.append("uni", [NewEvent("Ünïcode type 🎈", data, metadata=meta)])
        (got,) = await collect(store.read("uni"))
        assert got.data == data
        assert got.metadata == meta
        assert got.type == "Ünïcode type 🎈"
        (via_all,) = await collect(store.read_all(types=["Ünïcode type 🎈"]))
        assert via_all.id == got.id

    @pytest.mark.asyncio
    @pytest.mark.parametrize("type_name", ["", "t" * 256, "a\x00b", "new\nline"], ids=repr)
    async def test_bad_event_types_are_refused(self, store: EventStore, type_name: str) -> None:
        with pytest.raises(InvalidEventType) as info:
            await store.append("s", [ev(), _raw_event(type_name)])
        assert isinstance(info.value, ValueError)
        assert await collect(store.read_all()) == []

    @pytest.mark.asyncio
    async def test_size_limit_is_inclusive_and_counts_metadata(self, tmp_path: Any) -> None:
        store = await self.make_store(tmp_path, {"max_event_bytes": "1000"})
        try:
            # {"p":"..."} is 8 bytes of overhead
            exact = {"p": "x" * 992}
            await store.append("s", [NewEvent("Big", exact)])
            with pytest.raises(EventTooLargeError) as info:
                await store.append("s", [NewEvent("Big", {"p": "x" * 993})])
            assert isinstance(info.value, ValueError)
            assert "1000" in str(info.value)
            with pytest.raises(EventTooLargeError):
                await store.append(
                    "s", [ev(), NewEvent("Big", {"p": "x" * 900}, metadata={"m": "y" * 100})]
                )
            assert await store.stream_version("s") == 1
        finally:
            await store.close()

    @pytest.mark.asyncio
    async def test_events_near_the_default_limit(self, store: EventStore) -> None:
        limit = store.max_event_bytes
        assert limit == 1024 * 1024
        payload = {"blob": "🙂" * ((limit - 11) // 4)}  # 4 bytes per emoji in UTF-8
        await store.append("big", [NewEvent("Blob", payload)])
        (got,) = await collect(store.read("big"))
        assert got.data == payload
        with pytest.raises(EventTooLargeError):
            await store.append("big", [NewEvent("Blob", {"blob": "x" * limit})])

    @pytest.mark.asyncio
    async def test_typed_events_round_trip_and_upcast(self, store: EventStore) -> None:
        codec = Codec()
        store.codec = codec

        @codec.register("Deposited", version=2)
        @dataclass
        class Deposited:
            amount: int
            currency: str

        @codec.register("Withdrawn")
        class Withdrawn(msgspec.Struct):
            amount: int

        @codec.upcaster("Deposited", from_version=1)
        def add_currency(old: dict[str, Any]) -> dict[str, Any]:
            return {**old, "currency": "EUR"}

        # an event stored before version 2 existed: schema 1, no currency
        old_codec = Codec()
        store.codec = old_codec
        await store.append("acct", [NewEvent("Deposited", {"amount": 5})])
        store.codec = codec
        await store.append(
            "acct",
            [NewEvent("Deposited", Deposited(7, "USD")), NewEvent("Withdrawn", Withdrawn(2))],
        )
        got = await collect(store.read("acct"))
        assert got[0].data == Deposited(5, "EUR")
        assert got[1].data == Deposited(7, "USD")
        assert got[2].data == Withdrawn(2)
        with pytest.raises(SerializationError):
            await store.append("acct", [NewEvent("Other", Withdrawn(1))])
        with pytest.raises(SerializationError):
            await store.append("acct", [NewEvent("X", {"obj": Withdrawn(1)})])
        assert await store.stream_version("acct") == 3

    @pytest.mark.asyncio
    async def test_one_append_is_capped_by_events_and_by_bytes(self, tmp_path: Any) -> None:
        store = await self.make_store(tmp_path)
        try:
            assert (store.max_append_events, store.max_append_bytes) == (10_000, 64 * 1024 * 1024)
            await store.append("s", [ev(i=i) for i in range(10_000)])  # the default cap, exactly
            with pytest.raises(AppendTooLargeError, match="max_append_events") as info:
                await store.append("s", [ev(i=i) for i in range(10_001)])
            assert isinstance(info.value, ValueError)
            with pytest.raises(AppendTooLargeError):
                await store.append_many(
                    {"a": ([ev() for _ in range(6_000)], 0), "b": ([ev() for _ in range(4_001)], 0)}
                )
            assert await store.stream_version("s") == 10_000
            assert await store.stream_version("a") == 0
        finally:
            await store.close()
        small = await self.make_store(
            tmp_path, {"max_append_events": "5", "max_append_bytes": "1000"}
        )
        try:
            await small.append("s", [ev(i=i) for i in range(5)])
            with pytest.raises(AppendTooLargeError, match="max_append_events"):
                await small.append("s", [ev(i=i) for i in range(6)])
            with pytest.raises(AppendTooLargeError, match="max_append_bytes"):
                await small.append("s", [NewEvent("Big", {"p": "x" * 400}) for _ in range(3)])
            with pytest.raises(AppendTooLargeError, match="max_append_bytes"):
                await small.append_many(
                    {
                        "a": ([NewEvent("Big", {"p": "x" * 600})], 0),
                        "b": ([NewEvent("Big", {"p": "x" * 600})], 0),
                    }
                )
            await small.append("s", [NewEvent("Big", {"p": "x" * 400}) for _ in range(2)])
            assert await small.stream_version("s") == 7
            assert await small.stream_version("a") == 0
        finally:
            await small.close()

    @pytest.mark.asyncio
    async def test_json_values_read_back_as_written(self, store: EventStore) -> None:
        an_id = str(uuid.uuid4())  # a UUID as text is plain text
        data = {"id": an_id, "ids": [an_id], "when": "2024-06-01T12:00:00+00:00", "n": 2**63 - 1}
        await store.append("s", [NewEvent("X", data, metadata={"correlation_id": an_id})])
        (got,) = await collect(store.read("s"))
        assert got.data == data
        assert got.metadata == {"correlation_id": an_id}

    @pytest.mark.asyncio
    async def test_typed_fields_of_registered_classes_round_trip(self, store: EventStore) -> None:
        codec = Codec()
        store.codec = codec

        @codec.register("Shipped")
        @dataclass
        class Shipped:
            order: uuid.UUID
            at: datetime
            on: date
            total: Decimal

        event = Shipped(
            uuid.uuid4(), datetime(2024, 6, 1, 12, tzinfo=UTC), date(2024, 6, 2), Decimal("9.95")
        )
        await store.append("orders", [NewEvent("Shipped", event)])
        (got,) = await collect(store.read("orders"))
        assert got.data == event
        assert isinstance(got.data.order, uuid.UUID)
