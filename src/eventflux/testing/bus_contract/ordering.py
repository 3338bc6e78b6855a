"""Contract: per-key order within a group, and the concurrency bound."""

from __future__ import annotations

import asyncio
import random

import pytest

from ...bus import MemberHandle, Message, MessageBus, OutgoingMessage
from ._base import FAST, BusContractBase, Recorder, eventually, eventually_letters, quiet
from .wrappers import BackendWrapper, HeldCounter


class KeyLog:
    """Records, per key, the order of handling and whether two overlapped."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.order: dict[str, list[int]] = {}
        self.active: set[str] = set()
        self.overlaps = 0
        self.fail = dict(fail or {})  # msg_id -> failures still to raise
        self.done = 0

    async def __call__(self, msg: Message) -> None:
        key = msg.key or ""
        if key in self.active:
            self.overlaps += 1
        self.active.add(key)
        try:
            await asyncio.sleep(random.uniform(0, 0.004))
            left = self.fail.get(msg.msg_id, 0)
            if left:
                self.fail[msg.msg_id] = left - 1
                raise ValueError("not yet")
            self.order.setdefault(key, []).append(msg.data["n"])
            self.done += 1
        finally:
            self.active.discard(key)


class OrderingContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_messages_of_a_key_are_handled_in_publish_order_by_many_members(
        self, bus: MessageBus
    ) -> None:
        log = KeyLog()
        for _ in range(4):
            bus.subscribe("ord", log, group="g", concurrency=4)
        batch = [OutgoingMessage("ord", {"n": i}, key=f"k{i % 5}") for i in range(200)]
        random.Random(7).shuffle(batch)
        expected: dict[str, list[int]] = {}
        for m in batch:
            expected.setdefault(m.key or "", []).append(m.data["n"])
        for i in range(0, 200, 50):
            await bus.publish_many(batch[i : i + 50])
        await eventually(lambda: log.done == 200, 10)
        assert log.order == expected
        assert log.overlaps == 0

    @pytest.mark.asyncio
    async def test_a_retried_keyed_message_holds_back_its_key_only(self, bus: MessageBus) -> None:
        log = KeyLog(fail={"k-1": 1})
        bus.subscribe("ord", log, group="g", backoff=(0.5, 0.5), max_deliver=5)
        await bus.publish("ord", {"n": 1}, msg_id="k-1", key="K")
        await bus.publish("ord", {"n": 2}, msg_id="k-2", key="K")
        await bus.publish("ord", {"n": 3}, msg_id="k-3", key="K")
        for n in range(10, 15):
            await bus.publish("ord", {"n": n}, key="L")
        await eventually(lambda: len(log.order.get("L", [])) == 5)
        assert "K" not in log.order, "K waits for its first message's retry"
        await eventually(lambda: log.done == 8)
        assert log.order["K"] == [1, 2, 3]

    @pytest.mark.asyncio
    async def test_dead_lettering_a_keyed_message_releases_its_key(self, bus: MessageBus) -> None:
        log = KeyLog(fail={"k-1": 99})
        bus.subscribe("ord", log, group="g", backoff=FAST, max_deliver=2)
        await bus.publish("ord", {"n": 1}, msg_id="k-1", key="K")
        await bus.publish("ord", {"n": 2}, msg_id="k-2", key="K")
        await bus.publish("ord", {"n": 3}, msg_id="k-3", key="K")
        await eventually(lambda: log.done == 2)
        assert log.order["K"] == [2, 3]
        await eventually_letters(bus, 1)
        assert [x.msg_id for x in await bus.dlq.list()] == ["k-1"]

    @pytest.mark.asyncio
    async def test_at_most_concurrency_handlers_run_per_member(self, bus: MessageBus) -> None:
        rec = Recorder(delay=0.03)
        bus.subscribe("c", rec, group="g", concurrency=3)
        await bus.publish_many([("c", {"n": i}) for i in range(15)])
        await rec.wait(15)
        await quiet(0.05)
        assert rec.max_running == 3

    @pytest.mark.asyncio
    async def test_at_most_concurrency_messages_are_fetched_per_member(
        self, bus: MessageBus
    ) -> None:
        counters: list[HeldCounter] = []

        class Counting(BackendWrapper):
            def wrap_member(self, handle: MemberHandle) -> MemberHandle:
                counters.append(HeldCounter(handle))
                return counters[-1]

        watched = MessageBus(Counting(bus.backend, close_inner=False))
        try:
            slow = Recorder(delay=0.02)
            watched.subscribe("d", slow, group="h", concurrency=2)
            await watched.ready()
            await watched.publish_many([("d", {"n": i}) for i in range(10)])
            await slow.wait(10)
            (member,) = counters
            assert member.most <= 2
            assert slow.max_running <= 2
        finally:
            await watched.close()

    @pytest.mark.asyncio
    async def test_a_message_waiting_for_redelivery_holds_no_slot(self, bus: MessageBus) -> None:
        rec = Recorder(
            fail=lambda m: ValueError("once") if m.data["n"] == 0 and m.attempt == 1 else None
        )
        bus.subscribe("w", rec, group="g", concurrency=1, backoff=(0.6, 0.6))
        await bus.publish("w", {"n": 0}, key="A")
        await rec.wait(1)
        await bus.publish_many([OutgoingMessage("w", {"n": i}, key="B") for i in range(1, 5)])
        await rec.wait(6)
        assert [m.data["n"] for m in rec.messages] == [0, 1, 2, 3, 4, 0]
