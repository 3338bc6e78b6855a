"""The outbox relay: stored events reach the bus at least once, checkpointed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eventflux import NewEvent, RecordedEvent, open_store
from eventflux.bus import Message, open_bus
from eventflux.bus.outbox import (
    Checkpoint,
    FileCheckpoint,
    MemoryCheckpoint,
    OutboxRelay,
    event_subject,
)
from eventflux.testing.bus_contract import Recorder


@pytest.mark.asyncio
async def test_run_once_publishes_each_event_with_its_id_and_checkpoints(tmp_path: Path) -> None:
    store = await open_store("memory://")
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        rec = Recorder()
        bus.subscribe("bank.>", rec, group="audit")
        await store.append("acct-1", [NewEvent("Deposited", {"amount": 5})])
        r = await store.append("acct-2", [NewEvent("Withdrawn", {"amount": 2})])
        relay = OutboxRelay(store, bus, subject="bank")
        assert await relay.run_once() == 2
        assert await relay.run_once() == 0
        await rec.wait(2)
        stored = [e async for e in store.read_all()]
        assert [m.msg_id for m in rec.messages] == [str(e.id) for e in stored]
        assert [m.subject for m in rec.messages] == ["bank.Deposited", "bank.Withdrawn"]
        assert rec.messages[0].key == "acct-1"
        assert rec.messages[1].headers["position"] == str(r.position)
        again = OutboxRelay(store, bus, subject="bank")  # resumes from the bus's checkpoint
        assert await again.run_once() == 0
        assert again.position == r.position
    await store.close()


@pytest.mark.asyncio
async def test_the_live_relay_follows_new_events(tmp_path: Path) -> None:
    store = await open_store("memory://")
    bus = await open_bus("memory://")
    rec = Recorder()
    bus.subscribe("events.*", rec, group="g")
    async with OutboxRelay(store, bus, checkpoint=FileCheckpoint(tmp_path / "cp")) as relay:
        for i in range(5):
            await store.append("s", [NewEvent("Ticked", {"i": i})])
        await rec.wait(5)
    assert relay.position == 5
    assert (tmp_path / "cp").read_text().strip() == "5"
    assert [m.data["i"] for m in rec.messages] == list(range(5))
    await bus.close()
    await store.close()


class CrashingCheckpoint(MemoryCheckpoint):
    """Saving fails once: the relay 'crashes' after publishing, before checkpointing."""

    crashes = 1

    async def save(self, position: int) -> None:
        if self.crashes:
            self.crashes -= 1
            raise OSError("disk full")
        await super().save(position)


@pytest.mark.asyncio
async def test_a_crash_before_the_checkpoint_republishes_without_duplicates() -> None:
    store = await open_store("memory://")
    bus = await open_bus("memory://")
    rec = Recorder()
    bus.subscribe("events.>", rec, group="g")
    for i in range(3):
        await store.append("s", [NewEvent("E", {"i": i})])
    cp = CrashingCheckpoint()
    with pytest.raises(OSError):
        await OutboxRelay(store, bus, checkpoint=cp).run_once()
    assert await OutboxRelay(store, bus, checkpoint=cp).run_once() == 3
    await rec.wait(3)
    await asyncio.sleep(0.05)
    assert [m.data["i"] for m in rec.messages] == [0, 1, 2]  # the bus's dedup dropped repeats
    await bus.close()
    await store.close()


@dataclass
class Paid:
    amount: int


@pytest.mark.asyncio
async def test_subject_functions_filters_and_class_payloads() -> None:
    from eventflux import Codec

    codec = Codec()
    codec.register("Paid")(Paid)
    store = await open_store("memory://", codec=codec)
    bus = await open_bus("memory://")
    rec = Recorder()
    bus.subscribe("pay.>", rec, group="g")
    await store.append("order-1", [NewEvent("Paid", Paid(3))])
    await store.append("user-1", [NewEvent("Paid", Paid(4))])

    def subject(e: RecordedEvent) -> str:
        return f"pay.{e.stream}"

    checkpoint: Checkpoint = MemoryCheckpoint()
    relay = OutboxRelay(
        store, bus, subject=subject, key=None, stream_prefix="order-", checkpoint=checkpoint
    )
    assert await relay.run_once() == 1
    await rec.wait(1)
    msg: Message = rec.messages[0]
    assert (msg.subject, msg.data, msg.key) == ("pay.order-1", {"amount": 3}, None)
    await bus.close()
    await store.close()


def test_event_subjects_are_made_safe() -> None:
    e = RecordedEvent(uuid.uuid4(), "s", 1, 1, "Money moved *now*", {}, {}, datetime.now(UTC))
    assert event_subject("x")(e) == "x.Money_moved_now_"
    with pytest.raises(ValueError):
        OutboxRelay(None, None, batch_size=0)  # type: ignore[arg-type]
