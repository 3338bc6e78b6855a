"""Contract: delivery, fan-out across groups, load balancing within a group."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from ...bus import Message, MessageBus, OutgoingMessage
from ._base import BusContractBase, Recorder, eventually, quiet


class DeliveryContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_a_message_reaches_its_handler_with_every_field(self, bus: MessageBus) -> None:
        rec = Recorder()
        bus.subscribe("orders.created", rec, group="payments")
        before = datetime.now(UTC)
        mid = await bus.publish(
            "orders.created", {"id": 1}, msg_id="order-1", key="customer-7", headers={"a": "b"}
        )
        await rec.wait(1)
        (msg,) = rec.messages
        assert mid == "order-1"
        assert msg.subject == "orders.created"
        assert msg.data == {"id": 1}
        assert msg.msg_id == "order-1"
        assert msg.key == "customer-7"
        assert dict(msg.headers) == {"a": "b"}
        assert msg.attempt == 1
        assert msg.group == "payments"
        assert msg.published_at.tzinfo is not None
        assert msg.published_at.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= msg.published_at <= datetime.now(UTC)

    @pytest.mark.asyncio
    async def test_generated_ids_are_unique_and_keys_default_to_none(self, bus: MessageBus) -> None:
        rec = Recorder()
        bus.subscribe("a", rec, group="g")
        ids = [await bus.publish("a", {"n": i}) for i in range(20)]
        await rec.wait(20)
        assert len(set(ids)) == 20
        assert sorted(m.msg_id for m in rec.messages) == sorted(ids)
        assert all(m.key is None and dict(m.headers) == {} for m in rec.messages)

    @pytest.mark.asyncio
    async def test_subscribe_works_as_decorator_and_as_call(self, bus: MessageBus) -> None:
        seen: list[str] = []

        @bus.subscribe("x", group="deco")
        async def handler(msg: Message) -> None:
            seen.append("deco")

        async def other(msg: Message) -> None:
            seen.append("call")

        assert callable(handler)
        assert handler.__name__ == "handler"
        assert bus.subscribe("x", other, group="call") is other
        await bus.publish("x", {})
        await eventually(lambda: sorted(seen) == ["call", "deco"])

    @pytest.mark.asyncio
    async def test_plain_function_handlers_work(self, bus: MessageBus) -> None:
        seen: list[int] = []

        def handler(msg: Message) -> None:
            seen.append(msg.data["n"])

        bus.subscribe("x", handler, group="sync")
        await bus.publish("x", {"n": 3})
        await eventually(lambda: seen == [3])

    @pytest.mark.asyncio
    async def test_groups_fan_out_each_gets_every_message(self, bus: MessageBus) -> None:
        a, b = Recorder(), Recorder()
        bus.subscribe("orders.created", a, group="payments")
        bus.subscribe("orders.created", b, group="shipping")
        for i in range(10):
            await bus.publish("orders.created", {"n": i})
        await a.wait(10)
        await b.wait(10)
        await quiet()
        assert sorted(m.data["n"] for m in a.messages) == list(range(10))
        assert sorted(m.data["n"] for m in b.messages) == list(range(10))

    @pytest.mark.asyncio
    async def test_members_of_a_group_share_the_work(self, bus: MessageBus) -> None:
        members = [Recorder(delay=0.01) for _ in range(3)]
        for rec in members:
            bus.subscribe("jobs", rec, group="workers", concurrency=2)
        await bus.publish_many([("jobs", {"n": i}) for i in range(60)])
        await eventually(lambda: sum(len(r.messages) for r in members) >= 60)
        await quiet()
        handled = sorted(m.data["n"] for r in members for m in r.messages)
        assert handled == list(range(60))
        assert sum(1 for r in members if r.messages) >= 2

    @pytest.mark.asyncio
    async def test_wildcards_match_one_token_or_the_rest(self, bus: MessageBus) -> None:
        star, rest = Recorder(), Recorder()
        bus.subscribe("orders.*", star, group="star")
        bus.subscribe("orders.>", rest, group="rest")
        for subject in ("orders.created", "orders.eu.created", "orders", "users.created"):
            await bus.publish(subject, {"s": subject})
        await rest.wait(2)
        await star.wait(1)
        await quiet()
        assert [m.subject for m in star.messages] == ["orders.created"]
        assert sorted(m.subject for m in rest.messages) == ["orders.created", "orders.eu.created"]

    @pytest.mark.asyncio
    async def test_a_group_gets_what_is_published_after_its_first_subscribe(
        self, bus: MessageBus
    ) -> None:
        await bus.publish("late", {"n": 0})
        rec = Recorder()
        bus.subscribe("late", rec, group="late")
        await bus.publish("late", {"n": 1})
        await rec.wait(1)
        await quiet()
        assert rec.data == [{"n": 1}]

    @pytest.mark.asyncio
    async def test_each_delivery_decodes_its_own_copy(self, bus: MessageBus) -> None:
        seen: list[dict[str, object]] = []

        async def mutate(msg: Message) -> None:
            seen.append({"items": list(msg.data["items"])})
            msg.data["items"].append("changed")
            if msg.attempt == 1:
                raise RuntimeError("again")

        bus.subscribe("copy", mutate, group="g1", backoff=(0.01, 0.01))
        bus.subscribe("copy", mutate, group="g2", backoff=(0.01, 0.01))
        await bus.publish("copy", {"items": ["a"]})
        await eventually(lambda: len(seen) == 4)
        assert all(s["items"] == ["a"] for s in seen)

    @pytest.mark.asyncio
    async def test_publish_many_delivers_a_batch_in_order(self, bus: MessageBus) -> None:
        rec = Recorder()
        bus.subscribe("batch.*", rec, group="g", concurrency=1)
        ids = await bus.publish_many(
            [OutgoingMessage("batch.a", {"n": i}, key="k") for i in range(30)]
            + [("batch.b", {"n": 30})]
        )
        assert len(ids) == 31
        await rec.wait(31)
        assert [m.data["n"] for m in rec.messages if m.key == "k"] == list(range(30))
        assert await bus.publish_many([]) == []

    @pytest.mark.asyncio
    async def test_delivery_is_prompt(self, bus: MessageBus) -> None:
        rec = Recorder()
        bus.subscribe("fast", rec, group="g")
        await bus.ready()
        await asyncio.sleep(0.05)
        start = time.monotonic()
        await bus.publish("fast", {})
        await rec.wait(1)
        assert rec.times[0] - start < 0.5
