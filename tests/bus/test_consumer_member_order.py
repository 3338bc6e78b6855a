"""The consumer runtime on a backend that keeps key order by member
(KeyOrder.MEMBER, as NATS key partitions do), simulated over the memory
backend: in-place retries, revocations, and giving back at close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from eventflux.bus import Delivery, KeyOrder, MemberHandle, Message, MessageBus, Revoke
from eventflux.bus.memory import MemoryBusBackend
from eventflux.testing.bus_contract import Recorder, eventually, eventually_letters
from eventflux.testing.bus_contract.wrappers import BackendWrapper, MemberWrapper


class PartitionMember(MemberWrapper):
    """Hands out every message (the memory backend sees them unkeyed) with the
    key from its ``k`` field, all of them to this member: a partition owner."""

    def __init__(self, inner: MemberHandle, log: list[str]) -> None:
        super().__init__(inner)
        self.log = log
        self.handed: list[Delivery] = []
        self.recorded: list[tuple[str, int]] = []
        self.draining = False  # the partition is being handed over: hand out nothing

    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        if self.draining:
            await asyncio.sleep(min(max_wait, 0.01))
            return []
        batch = await super().fetch(max_messages, max_wait)
        for d in batch:
            d.key = d.msg_id.split("-")[0]
        self.handed += batch
        return batch

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        self.log.append(f"nak {delivery.msg_id} count={count}")
        await super().nak(delivery, delay, count=count)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        self.log.extend(f"release {d.msg_id}" for d in deliveries)
        await super().release(deliveries)

    async def starting(self, delivery: Delivery) -> None:
        if delivery.attempt > 1:
            self.recorded.append((delivery.msg_id, delivery.attempt))
        await super().starting(delivery)


class Partitions(BackendWrapper):
    def __init__(self) -> None:
        super().__init__(MemoryBusBackend())
        self.key_order = KeyOrder.MEMBER
        self.log: list[str] = []
        self.members: list[PartitionMember] = []
        self.revokes: list[Revoke] = []

    async def join(
        self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
    ) -> MemberHandle:
        self.revokes.append(revoke)
        return await super().join(
            group, pattern, ack_wait=ack_wait, concurrency=concurrency, revoke=revoke
        )

    def wrap_member(self, handle: MemberHandle) -> MemberHandle:
        self.members.append(PartitionMember(handle, self.log))
        return self.members[-1]


async def _publish(bus: MessageBus, *ids: str) -> None:
    for msg_id in ids:
        await bus.publish("p", {"id": msg_id}, msg_id=msg_id)


@pytest.mark.asyncio
async def test_a_failed_keyed_message_is_retried_in_the_member_holding_its_key() -> None:
    backend = Partitions()
    async with MessageBus(backend) as bus:
        rec = Recorder(
            fail=lambda m: ValueError("once") if m.msg_id == "A-1" and m.attempt == 1 else None
        )
        bus.subscribe("p", rec, group="g", concurrency=1, backoff=(0.3, 0.3))
        await bus.ready()
        await _publish(bus, "A-1", "A-2", "B-1", "B-2")
        await rec.wait(5)
        order = [(m.msg_id, m.attempt) for m in rec.messages]
        # A-1 failed and waited 0.3 s holding no slot: B ran meanwhile, A-2 waited.
        assert order[0] == ("A-1", 1)
        assert order.index(("B-2", 1)) < order.index(("A-1", 2)) < order.index(("A-2", 1))
        assert backend.members[0].recorded == [("A-1", 2)]
        assert not any(line.startswith("nak") for line in backend.log)


@pytest.mark.asyncio
async def test_a_revocation_waits_for_the_running_message_then_gives_back_in_order() -> None:
    backend = Partitions()
    async with MessageBus(backend) as bus:
        started, finish = asyncio.Event(), asyncio.Event()
        handled: list[str] = []

        async def handle(msg: Message) -> None:
            if msg.msg_id == "A-1":
                started.set()
                await finish.wait()
            handled.append(msg.msg_id)

        bus.subscribe("p", handle, group="g", concurrency=4)
        await bus.ready()
        await _publish(bus, "A-1", "A-2", "A-3")
        await asyncio.wait_for(started.wait(), 5)
        member = backend.members[0]
        await eventually(lambda: len(member.handed) == 3)
        member.draining = True
        revoking = asyncio.get_running_loop().create_task(backend.revokes[0](member.handed))
        await asyncio.sleep(0.05)
        assert not revoking.done()  # A-1 still runs
        assert backend.log == []  # and nothing of its key goes back before it settles
        finish.set()
        await asyncio.wait_for(revoking, 5)
        assert handled == ["A-1"]
        assert backend.log == ["release A-2", "release A-3"]


@pytest.mark.asyncio
async def test_closing_gives_back_a_waiting_retry_before_the_rest_of_its_key() -> None:
    backend = Partitions()
    bus = MessageBus(backend)
    rec = Recorder(fail=lambda m: ValueError("down") if m.msg_id == "A-1" else None)
    bus.subscribe("p", rec, group="g", concurrency=4, backoff=(30.0, 30.0))
    await bus.ready()
    await _publish(bus, "A-1", "A-2")
    await rec.wait(1)
    await eventually(lambda: len(backend.members[0].handed) == 2)
    await bus.close()
    assert backend.log == ["nak A-1 count=True", "release A-2"]


@pytest.mark.asyncio
async def test_an_in_place_retry_still_dead_letters_after_max_deliver() -> None:
    backend = Partitions()
    async with MessageBus(backend) as bus:
        rec = Recorder(fail=lambda m: ValueError("x") if m.msg_id == "A-1" else None)
        bus.subscribe("p", rec, group="g", max_deliver=3, backoff=(0.01, 0.01))
        await bus.ready()
        await _publish(bus, "A-1", "A-2")
        await eventually_letters(bus, 1)
        await rec.wait(4)
        (letter,) = await bus.dlq.list()
        assert (letter.msg_id, letter.deliveries) == ("A-1", 3)
        assert [(m.msg_id, m.attempt) for m in rec.messages] == [
            ("A-1", 1),
            ("A-1", 2),
            ("A-1", 3),
            ("A-2", 1),
        ]
