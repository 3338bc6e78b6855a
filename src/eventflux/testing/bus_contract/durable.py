"""Contract for durable backends: several handles (processes) share one storage."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ...bus import Message, OutgoingMessage
from ._base import (
    FAST,
    Recorder,
    eventually,
    eventually_letters,
    handed_out_and_lost,
    quiet,
)
from .introspection import DurableIntrospectionContract
from .ordering import KeyLog


class DurableBusContract(DurableIntrospectionContract):
    """Run only on backends whose ``make_bus(..., reopen=True)`` shares storage."""

    @pytest.mark.asyncio
    async def test_a_group_keeps_its_messages_while_no_member_runs(self, tmp_path: Path) -> None:
        first = await self.make_bus(tmp_path)
        first.subscribe("keep", Recorder(), group="g")
        await first.ready()
        await first.close()
        publisher = await self.make_bus(tmp_path, reopen=True)
        try:
            await publisher.publish_many([("keep", {"n": i}) for i in range(10)])
        finally:
            await publisher.close()
        later = await self.make_bus(tmp_path, reopen=True)
        try:
            rec = Recorder()
            later.subscribe("keep", rec, group="g")
            await rec.wait(10)
            assert sorted(m.data["n"] for m in rec.messages) == list(range(10))
        finally:
            await later.close()

    @pytest.mark.asyncio
    async def test_a_message_published_from_another_handle_right_after_subscribe_arrives(
        self, tmp_path: Path
    ) -> None:
        # 100 trials, each a new group: subscribe on one handle, publish at once
        # from another (nothing awaited in between, no ready()): none is lost.
        subscriber = await self.make_bus(tmp_path)
        publisher = await self.make_bus(tmp_path, reopen=True)
        try:
            recs = [Recorder() for _ in range(100)]
            for i, rec in enumerate(recs):
                subscriber.subscribe(f"start.t{i}", rec, group=f"g{i}")
                await publisher.publish(f"start.t{i}", {"n": i})
            await eventually(lambda: all(r.messages for r in recs), 60, "every trial's message")
            assert [r.data for r in recs] == [[{"n": i}] for i in range(100)]
        finally:
            await publisher.close()
            await subscriber.close()

    @pytest.mark.asyncio
    async def test_members_on_several_handles_share_a_group(self, tmp_path: Path) -> None:
        buses = [await self.make_bus(tmp_path, reopen=i > 0) for i in range(3)]
        try:
            recs = [Recorder(delay=0.002) for _ in buses]
            for b, rec in zip(buses, recs, strict=True):
                b.subscribe("share", rec, group="g", concurrency=4)
                await b.ready()
            await buses[0].publish_many([("share", {"n": i}) for i in range(150)])
            await eventually(lambda: sum(len(r.messages) for r in recs) >= 150, 10)
            await quiet(0.2)
            handled = sorted(m.data["n"] for r in recs for m in r.messages)
            assert handled == list(range(150))
            assert sum(1 for r in recs if r.messages) >= 2
        finally:
            for b in buses:
                await b.close()

    @pytest.mark.asyncio
    async def test_key_order_holds_across_handles(self, tmp_path: Path) -> None:
        buses = [await self.make_bus(tmp_path, reopen=i > 0) for i in range(3)]
        try:
            log = KeyLog(fail={"m-3": 1, "m-17": 2})
            for b in buses:
                b.subscribe("ord", log, group="g", concurrency=3, backoff=FAST)
                await b.ready()
            batch = [
                OutgoingMessage("ord", {"n": i}, msg_id=f"m-{i}", key=f"k{i % 4}")
                for i in range(80)
            ]
            await buses[1].publish_many(batch)
            await eventually(lambda: log.done == 80, 10)
            for k in range(4):
                assert log.order[f"k{k}"] == [i for i in range(80) if i % 4 == k]
            assert log.overlaps == 0
        finally:
            for b in buses:
                await b.close()

    @pytest.mark.asyncio
    async def test_a_crashed_members_lease_expires_for_another_handle(self, tmp_path: Path) -> None:
        crashed = await self.make_bus(tmp_path)
        survivor = await self.make_bus(tmp_path, reopen=True)
        try:
            # handed out twice on a handle whose process died: lost before its
            # handler started, then started
            await handed_out_and_lost(crashed, "g", "work", runs_started=1, ack_wait=0.3)
            rec = Recorder()
            survivor.subscribe("work", rec, group="g")
            await asyncio.sleep(0.15)
            assert rec.messages == []
            await rec.wait(1, within=5)
            assert rec.messages[0].attempt == 2
        finally:
            await survivor.close()
            await crashed.close()

    @pytest.mark.asyncio
    async def test_closing_drains_and_nothing_acked_comes_back(self, tmp_path: Path) -> None:
        first = await self.make_bus(tmp_path)
        started = asyncio.Event()
        done: list[int] = []

        async def slow(msg: Message) -> None:
            started.set()
            await asyncio.sleep(0.1)
            done.append(msg.data["n"])

        first.subscribe("d", slow, group="g", concurrency=4)
        await first.publish_many([("d", {"n": i}) for i in range(4)])
        await asyncio.wait_for(started.wait(), 5)
        await first.close()
        second = await self.make_bus(tmp_path, reopen=True)
        try:
            rec = Recorder()
            second.subscribe("d", rec, group="g")
            await second.publish("d", {"n": 99})
            await rec.wait(1)
            await quiet(0.2)
            assert sorted(done) == [0, 1, 2, 3]
            assert [m.data["n"] for m in rec.messages] == [99]
        finally:
            await second.close()

    @pytest.mark.asyncio
    async def test_a_handler_cancelled_by_close_gives_its_message_back_with_its_run_counted(
        self, tmp_path: Path
    ) -> None:
        first = await self.make_bus(tmp_path)
        started = asyncio.Event()

        async def hang(msg: Message) -> None:
            started.set()
            await asyncio.sleep(3600)

        first.subscribe("stuck", hang, group="g", handler_timeout=None)
        await first.publish("stuck", {"n": 1}, msg_id="s-1")
        await asyncio.wait_for(started.wait(), 10)
        await asyncio.wait_for(first.close(timeout=0.2), 30)
        second = await self.make_bus(tmp_path, reopen=True)
        try:
            rec = Recorder()
            second.subscribe("stuck", rec, group="g")
            await rec.wait(1, within=10)  # at once: released, not left to its lease
            assert rec.messages[0].msg_id == "s-1"
            assert rec.messages[0].attempt == 2  # the cancelled run counted
        finally:
            await second.close()

    @pytest.mark.asyncio
    async def test_dead_letters_and_dedup_are_shared(self, tmp_path: Path) -> None:
        one = await self.make_bus(tmp_path)
        two = await self.make_bus(tmp_path, reopen=True)
        try:
            broken = True
            rec = Recorder(fail=lambda m: ValueError("x") if broken else None)
            one.subscribe("s", rec, group="g", max_deliver=1)
            await one.ready()
            await two.publish("s", {"n": 1}, msg_id="once")
            await two.publish("s", {"n": 1}, msg_id="once")
            await eventually_letters(two, 1)
            (letter,) = await two.dlq.list()
            broken = False
            await two.dlq.retry(letter.id)
            await rec.wait(2)
            await eventually(lambda: len(rec.messages) == 2)
            await quiet()
            assert await one.dlq.list() == []
            assert len(rec.messages) == 2
        finally:
            await one.close()
            await two.close()
