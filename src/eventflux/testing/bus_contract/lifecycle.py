"""Contract: closing drains, ack_wait redelivery, lease extension, unsubscribe."""

from __future__ import annotations

import asyncio

import pytest

from ...bus import Message, MessageBus
from ...exceptions import BusClosedError
from ._base import (
    FAST,
    BusContractBase,
    Recorder,
    eventually_letters,
    handed_out_and_lost,
    quiet,
)


class LifecycleContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_close_lets_running_handlers_finish(self, bus: MessageBus) -> None:
        started, finished = asyncio.Event(), []

        async def slow(msg: Message) -> None:
            started.set()
            await asyncio.sleep(0.15)
            finished.append(msg.data["n"])

        bus.subscribe("s", slow, group="g")
        await bus.publish("s", {"n": 1})
        await asyncio.wait_for(started.wait(), 5)
        await bus.close()
        assert finished == [1]
        assert bus.closed

    @pytest.mark.asyncio
    async def test_a_closed_bus_refuses_work_and_closing_twice_is_fine(
        self, bus: MessageBus
    ) -> None:
        async with bus as same:
            assert same is bus
        await bus.close()
        with pytest.raises(BusClosedError):
            await bus.publish("x", {})
        with pytest.raises(BusClosedError):
            bus.subscribe("x", Recorder(), group="g")
        with pytest.raises(BusClosedError):
            await bus.dlq.list()

    @pytest.mark.asyncio
    async def test_handlers_may_publish_while_the_bus_drains(self, bus: MessageBus) -> None:
        started = asyncio.Event()
        out = Recorder()

        async def relay(msg: Message) -> None:
            started.set()
            await asyncio.sleep(0.05)
            await bus.publish("out", msg.data)

        bus.subscribe("in", relay, group="relay")
        bus.subscribe("out", out, group="sink")
        await bus.publish("in", {"n": 1})
        await asyncio.wait_for(started.wait(), 5)
        await bus.close()

    @pytest.mark.asyncio
    async def test_a_lease_neither_acked_nor_extended_expires_and_is_redelivered(
        self, bus: MessageBus
    ) -> None:
        # Members that fetched a message and died: simulated through the backend.
        # The first lost it before its handler started; the second started it.
        await handed_out_and_lost(bus, "g", "lease", runs_started=1)
        rec = Recorder()
        bus.subscribe("lease", rec, group="g", ack_wait=5.0)
        await rec.wait(1, within=5)
        assert rec.messages[0].attempt == 2  # the run that started counts, the lost one not
        assert rec.messages[0].data == {"n": 1}

    @pytest.mark.asyncio
    async def test_a_delivery_lost_before_its_handler_started_does_not_count(
        self, bus: MessageBus
    ) -> None:
        # Members that fetched the message and died before running its handler
        # (a failover, a member killed while fetching), three times over.
        await handed_out_and_lost(bus, "g", "lost", runs_started=0, hand_outs=3)
        rec = Recorder()
        bus.subscribe("lost", rec, group="g", max_deliver=1, backoff=FAST)
        await rec.wait(1, within=5)
        assert rec.messages[0].attempt == 1
        await quiet()
        assert await bus.dlq.list() == []

    @pytest.mark.asyncio
    async def test_running_handlers_are_extended_automatically(self, bus: MessageBus) -> None:
        rec = Recorder(delay=0.6)
        bus.subscribe("slow", rec, group="g", ack_wait=0.25)
        bus.subscribe("slow", rec, group="g", ack_wait=0.25)
        await bus.publish("slow", {"n": 1})
        await rec.wait(1)
        await asyncio.sleep(0.8)
        assert len(rec.messages) == 1

    @pytest.mark.asyncio
    async def test_a_delivery_past_max_deliver_after_an_expired_lease_is_dead_lettered(
        self, bus: MessageBus
    ) -> None:
        # its handler started (on a second hand-out), then its member died
        await handed_out_and_lost(bus, "g", "crash", runs_started=1)
        rec = Recorder()
        bus.subscribe("crash", rec, group="g", max_deliver=1, backoff=FAST)
        await eventually_letters(bus, 1)
        (letter,) = await bus.dlq.list()
        assert letter.error.startswith("LeaseExpired")
        assert rec.messages == []

    @pytest.mark.asyncio
    async def test_unsubscribe_stops_a_member(self, bus: MessageBus) -> None:
        first, second = Recorder(), Recorder()
        bus.subscribe("u", first, group="g")
        await bus.publish("u", {"n": 1})
        await first.wait(1)
        assert await bus.unsubscribe(first) == 1
        bus.subscribe("u", second, group="g")
        await bus.publish("u", {"n": 2})
        await second.wait(1)
        await quiet()
        assert [m.data["n"] for m in first.messages] == [1]
        assert [m.data["n"] for m in second.messages] == [2]
        assert len(bus.subscriptions) == 1
