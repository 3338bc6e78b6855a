"""The consumer runtime: local per-key chains, release on close, default groups."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from eventflux.bus import Delivery, MemberHandle, Message, MessageBus, Revoke
from eventflux.bus.memory import MemoryBusBackend
from eventflux.bus.subscription import default_group
from eventflux.testing.bus_contract import Recorder, eventually, eventually_letters
from eventflux.testing.bus_contract.wrappers import BackendWrapper, MemberWrapper


def memory_bus() -> MessageBus:
    return MessageBus(MemoryBusBackend())


class SameKeyMember(MemberWrapper):
    """Hands out several messages of one key at once (as a broker without
    per-key leases may): the runtime must still serialise them."""

    def __init__(self, inner: MemberHandle, releases: list[str]) -> None:
        super().__init__(inner)
        self.releases = releases

    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        batch = await super().fetch(max_messages, max_wait)
        for d in batch:
            d.key = "K"
        return batch

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        if not count:
            self.releases.append(delivery.msg_id)
        await super().nak(delivery, delay, count=count)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        self.releases.extend(d.msg_id for d in deliveries)
        await super().release(deliveries)


class SameKeyBackend(BackendWrapper):
    def __init__(self) -> None:
        super().__init__(MemoryBusBackend())
        self.releases: list[str] = []

    def wrap_member(self, handle: MemberHandle) -> MemberHandle:
        return SameKeyMember(handle, self.releases)


class SameKeyBus(MessageBus):
    def __init__(self) -> None:
        self.spy = SameKeyBackend()
        super().__init__(self.spy)

    @property
    def releases(self) -> list[str]:
        return self.spy.releases


@pytest.mark.asyncio
async def test_a_batch_with_one_key_runs_one_at_a_time_in_order() -> None:
    bus = SameKeyBus()
    rec = Recorder(delay=0.01)
    bus.subscribe("k", rec, group="g", concurrency=8)
    await bus.publish_many([("k", {"n": i}) for i in range(5)])
    await rec.wait(5)
    assert [m.data["n"] for m in rec.messages] == [0, 1, 2, 3, 4]
    assert rec.max_running == 1
    await bus.close()


@pytest.mark.asyncio
async def test_close_releases_unstarted_messages_at_once() -> None:
    bus = SameKeyBus()
    started = asyncio.Event()
    finish = asyncio.Event()
    handled: list[int] = []

    async def slow(msg: Message) -> None:
        started.set()
        await finish.wait()
        handled.append(msg.data["n"])

    bus.subscribe("k", slow, group="g", concurrency=8)
    await bus.publish_many([("k", {"n": i}) for i in range(4)])
    await asyncio.wait_for(started.wait(), 5)
    closing = asyncio.get_running_loop().create_task(bus.close())
    await eventually(lambda: len(bus.releases) == 3)
    assert handled == []  # released while the first handler still runs
    finish.set()
    await closing
    assert handled == [0]


@pytest.mark.asyncio
async def test_a_retry_releases_the_rest_of_its_key() -> None:
    bus = SameKeyBus()
    rec = Recorder(
        delay=0.01, fail=lambda m: ValueError("x") if m.data["n"] == 0 and m.attempt == 1 else None
    )
    bus.subscribe("k", rec, group="g", concurrency=8, backoff=(0.2, 0.2))
    ids = await bus.publish_many([("k", {"n": i}) for i in range(3)])
    await rec.wait(4)
    assert (rec.messages[0].data["n"], rec.messages[0].attempt) == (0, 1)
    assert set(ids[1:]) <= set(bus.releases)  # not run behind a failed head
    await bus.close()


def test_default_groups_come_from_the_handler() -> None:
    async def charge(msg: Message) -> None: ...

    name = default_group(charge)
    assert name.endswith("test_default_groups_come_from_the_handler-locals-charge")
    assert all(c.isalnum() or c in "_-" for c in name)


@pytest.mark.asyncio
async def test_subscribing_without_a_group_uses_the_handler_name() -> None:
    bus = memory_bus()
    rec = Recorder()
    bus.subscribe("x", rec)
    assert bus.subscriptions[0].group == default_group(rec)
    await bus.publish("x", {})
    await rec.wait(1)
    assert rec.messages[0].group == bus.subscriptions[0].group
    await bus.close()


@pytest.mark.asyncio
async def test_a_failing_join_is_reported_by_ready() -> None:
    class Broken(BackendWrapper):
        async def join(
            self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
        ) -> MemberHandle:
            raise OSError("storage gone")

    bus = MessageBus(Broken(MemoryBusBackend()))
    bus.subscribe("x", Recorder(), group="g")
    with pytest.raises(OSError, match="storage gone"):
        await bus.ready()
    await bus.publish("x", {})  # publishing does not hang on the failed member
    await bus.close()


@pytest.mark.asyncio
async def test_a_fetch_error_is_retried() -> None:
    class Flaky(MemberWrapper):
        fails = 1

        async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
            if self.fails:
                self.fails -= 1
                raise OSError("hiccup")
            return await super().fetch(max_messages, max_wait)

    members: list[Flaky] = []

    class FlakyBackend(BackendWrapper):
        def wrap_member(self, handle: MemberHandle) -> MemberHandle:
            members.append(Flaky(handle))
            return members[-1]

    bus = MessageBus(FlakyBackend(MemoryBusBackend()))
    rec = Recorder()
    bus.subscribe("x", rec, group="g")
    await bus.publish("x", {})
    await rec.wait(1, within=3)
    await bus.close()
    (member,) = members
    assert member.fails == 0, "the first fetch failed, and the member went on"


@pytest.mark.asyncio
async def test_registered_event_classes_are_published_as_their_fields() -> None:
    from dataclasses import dataclass

    from eventflux import Codec, SerializationError

    codec = Codec()

    @codec.register("Shipped")
    @dataclass
    class Shipped:
        order_id: int

    bus = MessageBus(MemoryBusBackend(), codec=codec)
    rec = Recorder()
    bus.subscribe("s", rec, group="g")
    await bus.publish("s", Shipped(7))
    await rec.wait(1)
    assert rec.messages[0].data == {"order_id": 7}

    @dataclass
    class Unregistered:
        x: int

    with pytest.raises(SerializationError):
        await bus.publish("s", Unregistered(1))
    await bus.close()


@pytest.mark.asyncio
async def test_an_exception_without_a_message_is_recorded_by_its_type() -> None:
    bus = memory_bus()

    async def fail(msg: Message) -> None:
        raise KeyError

    bus.subscribe("e", fail, group="g", max_deliver=1)
    await bus.publish("e", {})
    await eventually_letters(bus, 1)
    (letter,) = await bus.dlq.list()
    assert letter.error == "KeyError: "
    await bus.close()
