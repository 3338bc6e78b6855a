"""Contract: bad input, publish dedup, the idempotent inbox."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ...bus import MessageBus, OutgoingMessage
from ...exceptions import (
    EventfluxError,
    InvalidGroupName,
    InvalidSubject,
    SerializationError,
)
from ._base import BusContractBase, Recorder, quiet

BAD_SUBJECTS = [
    *("", ".", "a.", ".a", "a..b", "a b", "a\tb", "a\x00b", "a\nb", "a.*", "a.>", "*", ">"),
]
BAD_PATTERNS = ["", "a.>.b", "a*", "a.b*", ">a", "a..*", "a b.*"]
GOOD_PATTERNS = ["a", "a.*", "a.>", "*", ">", "*.b", "a.*.c", "Ünïcode.ok", "a-b_c.d:e"]
BAD_GROUPS = ["", "a b", "a.b", "a/b", "ä", "a\n", "a*"]


class InputContract(BusContractBase):
    @pytest.mark.asyncio
    @pytest.mark.parametrize("subject", BAD_SUBJECTS)
    async def test_publishing_to_an_invalid_subject_raises(
        self, bus: MessageBus, subject: str
    ) -> None:
        with pytest.raises(InvalidSubject) as info:
            await bus.publish(subject, {})
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, EventfluxError)

    @pytest.mark.asyncio
    async def test_non_str_subjects_and_groups_raise(self, bus: MessageBus) -> None:
        with pytest.raises(InvalidSubject):
            await bus.publish(42, {})  # type: ignore[arg-type]
        with pytest.raises(InvalidSubject):
            bus.subscribe(None, Recorder(), group="g")  # type: ignore[call-overload]
        with pytest.raises(InvalidGroupName):
            bus.subscribe("a", Recorder(), group=7)  # type: ignore[call-overload]

    @pytest.mark.asyncio
    async def test_subscription_patterns_are_checked(self, bus: MessageBus) -> None:
        for pattern in BAD_PATTERNS:
            with pytest.raises(InvalidSubject):
                bus.subscribe(pattern, Recorder(), group="g")
        for i, pattern in enumerate(GOOD_PATTERNS):
            bus.subscribe(pattern, Recorder(), group=f"g{i}")
        await bus.ready()

    @pytest.mark.asyncio
    @pytest.mark.parametrize("group", BAD_GROUPS)
    async def test_invalid_group_names_raise(self, bus: MessageBus, group: str) -> None:
        with pytest.raises(InvalidGroupName) as info:
            bus.subscribe("a", Recorder(), group=group)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, EventfluxError)

    @pytest.mark.asyncio
    async def test_subscribe_settings_are_checked(self, bus: MessageBus) -> None:
        rec = Recorder()
        kwargs: dict[str, Any]
        for kwargs in (
            {"max_deliver": 0},
            {"backoff": (1.0, 0.5)},
            {"backoff": (-1.0, 1.0)},
            {"concurrency": 0},
            {"ack_wait": 0},
        ):
            with pytest.raises(ValueError):
                bus.subscribe("a", rec, group="g", **kwargs)
        with pytest.raises(TypeError):
            bus.subscribe("a", rec, group="g", backoff=0.1)  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            bus.subscribe("a", "not callable", group="g")  # type: ignore[call-overload]

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        "data",
        [
            {"x": float("nan")},
            {"x": float("inf")},
            {1: "int key"},
            {"x": {2: "nested"}},
            {"x": {1, 2}},
            {"x": object()},
            ["not", "a", "mapping"],
            "text",
            None,
        ],
    )
    async def test_an_unencodable_payload_fails_publish_and_keeps_its_id(
        self, bus: MessageBus, data: object
    ) -> None:
        rec = Recorder()
        bus.subscribe("p", rec, group="g")
        with pytest.raises(SerializationError) as info:
            await bus.publish("p", data, msg_id="id-1")
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, EventfluxError)
        await bus.publish("p", {"ok": True}, msg_id="id-1")
        await rec.wait(1)
        await quiet(0.05)
        assert rec.data == [{"ok": True}]

    @pytest.mark.asyncio
    async def test_a_bad_item_fails_the_whole_batch(self, bus: MessageBus) -> None:
        rec = Recorder()
        bus.subscribe("p", rec, group="g")
        with pytest.raises(SerializationError):
            await bus.publish_many([("p", {"n": 1}), ("p", {"n": float("nan")})])
        with pytest.raises(InvalidSubject):
            await bus.publish_many([("p", {"n": 1}), ("p.*", {"n": 2})])
        with pytest.raises(TypeError):
            await bus.publish_many(["p"])  # type: ignore[list-item]
        await quiet(0.05)
        assert rec.messages == []

    @pytest.mark.asyncio
    async def test_bad_ids_keys_and_headers_raise(self, bus: MessageBus) -> None:
        with pytest.raises(ValueError):
            await bus.publish("p", {}, msg_id="")
        with pytest.raises(TypeError):
            await bus.publish("p", {}, msg_id=12)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await bus.publish("p", {}, key="")
        with pytest.raises(TypeError):
            await bus.publish("p", {}, headers={"a": 1})  # type: ignore[dict-item]

    @pytest.mark.asyncio
    async def test_a_repeated_msg_id_is_delivered_once_across_subjects(
        self, bus: MessageBus
    ) -> None:
        rec = Recorder()
        bus.subscribe(">", rec, group="all")
        assert await bus.publish("a", {"n": 1}, msg_id="m1") == "m1"
        assert await bus.publish("a", {"n": 2}, msg_id="m1") == "m1"
        await bus.publish("b.c", {"n": 3}, msg_id="m1")
        await bus.publish_many(
            [
                OutgoingMessage("a", {"n": 4}, msg_id="m2"),
                OutgoingMessage("a", {"n": 5}, msg_id="m2"),
            ]
        )
        await rec.wait(2)
        await quiet()
        assert sorted(m.data["n"] for m in rec.messages) == [1, 4]

    @pytest.mark.asyncio
    async def test_dedup_holds_for_the_window_only(self, tmp_path: Path) -> None:
        bus = await self.make_bus(tmp_path, {"dedup_window": "0.4"})
        try:
            rec = Recorder()
            bus.subscribe("w", rec, group="g", idempotent=True)
            other = Recorder()
            bus.subscribe("w", other, group="plain")
            await bus.publish("w", {"n": 1}, msg_id="same")
            await bus.publish("w", {"n": 2}, msg_id="same")
            await other.wait(1)
            await asyncio.sleep(0.5)
            await bus.publish("w", {"n": 3}, msg_id="same")
            await other.wait(2)
            await bus.publish("w", {"n": 4}, msg_id="next")
            await rec.wait(2)
            await quiet()
            assert other.data == [{"n": 1}, {"n": 3}, {"n": 4}]
            # The idempotent group skipped the repeat of an id it had handled.
            assert rec.data == [{"n": 1}, {"n": 4}]
            assert await bus.inbox.seen("g", "same")
            assert not await bus.inbox.seen("g", "never")
        finally:
            await bus.close()
