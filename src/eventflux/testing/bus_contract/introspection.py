"""Contract: ``bus.groups()``, the read-only view of the consumer groups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ...bus import GroupInfo, Message, MessageBus
from ...exceptions import BusClosedError
from ...signals import Reject
from ._base import BusContractBase, Recorder, eventually_letters


async def groups_until(
    bus: MessageBus, check: Callable[[dict[str, GroupInfo]], bool], within: float = 10.0
) -> dict[str, GroupInfo]:
    """Poll ``bus.groups()`` until ``check`` accepts them (by name); return them."""
    deadline = time.monotonic() + within
    while True:
        found = {g.name: g for g in await bus.groups()}
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for the groups; last seen: {found}")
        await asyncio.sleep(0.02)


class IntrospectionContract(BusContractBase):
    @pytest.mark.asyncio
    async def test_groups_list_each_group_with_its_patterns_and_members(
        self, bus: MessageBus
    ) -> None:
        bus.subscribe("orders.*", Recorder(), group="audit")
        bus.subscribe("orders.*", Recorder(), group="audit")
        bus.subscribe("users.>", Recorder(), group="audit")
        bus.subscribe("orders.created", Recorder(), group="payments")
        await bus.ready()
        found = await groups_until(bus, lambda g: g.keys() == {"audit", "payments"})
        audit, payments = found["audit"], found["payments"]
        assert audit.patterns == ("orders.*", "users.>")
        assert payments.patterns == ("orders.created",)
        assert (audit.members, payments.members) == (3, 1)
        for g in (audit, payments):
            assert (g.pending, g.in_flight, g.dead_letters, g.oldest_pending_age) == (
                0,
                0,
                0,
                None,
            )

    @pytest.mark.asyncio
    async def test_groups_count_pending_in_flight_and_dead_letters(self, bus: MessageBus) -> None:
        gate = asyncio.Event()
        started: list[int] = []

        async def slow(msg: Message) -> None:
            if msg.data.get("reject"):
                raise Reject("no")
            started.append(msg.data["n"])
            await gate.wait()

        bus.subscribe("jobs", slow, group="workers", concurrency=2)
        await bus.ready()
        await bus.publish_many([("jobs", {"n": n}) for n in range(6)])
        found = await groups_until(
            bus, lambda g: (g["workers"].in_flight, g["workers"].pending) == (2, 4)
        )
        await asyncio.sleep(0.3)
        workers = (await groups_until(bus, lambda g: "workers" in g))["workers"]
        assert workers.oldest_pending_age is not None
        assert 0.25 <= workers.oldest_pending_age < 60
        assert found["workers"].dead_letters == 0
        gate.set()
        await bus.publish("jobs", {"reject": True})
        await eventually_letters(bus, 1)
        done = await groups_until(
            bus, lambda g: (g["workers"].pending, g["workers"].in_flight) == (0, 0)
        )
        assert done["workers"].dead_letters == 1
        assert done["workers"].oldest_pending_age is None
        assert sorted(started) == list(range(6))

    @pytest.mark.asyncio
    async def test_a_closed_bus_refuses_to_list_groups(self, bus: MessageBus) -> None:
        assert await bus.groups() == []
        await bus.close()
        with pytest.raises(BusClosedError):
            await bus.groups()


class DurableIntrospectionContract(BusContractBase):
    """``bus.groups()`` sees every handle on the storage."""

    @pytest.mark.asyncio
    async def test_groups_count_members_of_every_handle_and_keep_counting_without_them(
        self, tmp_path: Path
    ) -> None:
        one = await self.make_bus(tmp_path)
        two = await self.make_bus(tmp_path, reopen=True)
        try:
            one.subscribe("jobs", Recorder(), group="g")
            two.subscribe("jobs", Recorder(), group="g")
            await one.ready()
            await two.ready()
            for b in (one, two):
                await groups_until(b, lambda g: "g" in g and g["g"].members == 2)
            await one.close()
            await two.close()
            publisher = await self.make_bus(tmp_path, reopen=True)
            try:
                await publisher.publish_many([("jobs", {"n": n}) for n in range(5)])
                found = await groups_until(publisher, lambda g: g["g"].pending == 5)
                assert (found["g"].members, found["g"].in_flight) == (0, 0)
                assert found["g"].oldest_pending_age is not None
            finally:
                await publisher.close()
        finally:
            await one.close()
            await two.close()
