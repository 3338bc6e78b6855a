"""Inboxes: in memory, in SQLite, and one transaction with a read model."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from eventflux import ConfigurationError
from eventflux.bus import AlreadyHandled, Message, MessageBus, open_bus
from eventflux.resilience import MemoryInbox, SQLiteInbox
from eventflux.testing.bus_contract import Recorder


@pytest.mark.asyncio
async def test_memory_inbox_remembers_for_its_retention() -> None:
    inbox = MemoryInbox(retention=0.05)
    await inbox.record("g", "m1")
    assert await inbox.seen("g", "m1")
    assert not await inbox.seen("other", "m1")
    import asyncio

    await asyncio.sleep(0.08)
    assert not await inbox.seen("g", "m1")


def test_sqlite_inbox_paths(tmp_path: Path) -> None:
    inbox = SQLiteInbox(f"sqlite:///{tmp_path}/in%20box.db?x=1")
    assert inbox.path == f"{tmp_path}/in box.db"
    inbox.close()
    other = SQLiteInbox(tmp_path / "b.db")
    assert other.path == str(tmp_path / "b.db")
    other.close()
    with pytest.raises(ConfigurationError):
        SQLiteInbox("sqlite://host/x.db")


@pytest.mark.asyncio
async def test_a_transaction_commits_the_read_model_and_the_record_together(
    tmp_path: Path,
) -> None:
    inbox = SQLiteInbox(tmp_path / "read.db")
    inbox.connection.execute("CREATE TABLE totals (n INTEGER)")
    msg = Message("orders.paid", {"amount": 5}, "m-1", group="stats")
    async with inbox.transaction(msg) as db:
        db.execute("INSERT INTO totals VALUES (?)", (msg.data["amount"],))
    with pytest.raises(AlreadyHandled):
        async with inbox.transaction(msg) as db:
            raise AssertionError("the body must not run for a repeat")

    async def failing() -> None:
        async with inbox.transaction(Message("x", {}, "m-2", group="stats")) as db:
            db.execute("INSERT INTO totals VALUES (100)")
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await failing()
    assert not await inbox.seen("stats", "m-2")
    assert await inbox.seen("stats", "m-1")
    await inbox.record("stats", "m-3")
    assert await inbox.seen("stats", "m-3")
    inbox.close()
    with sqlite3.connect(tmp_path / "read.db") as db:
        assert db.execute("SELECT sum(n) FROM totals").fetchone()[0] == 5


@pytest.mark.asyncio
async def test_a_message_without_a_group_needs_one(tmp_path: Path) -> None:
    inbox = SQLiteInbox(f"sqlite:///{tmp_path}/read.db", table="my_inbox")
    with pytest.raises(ValueError, match="group"):
        async with inbox.transaction(Message("x", {}, "m")):
            pass
    async with inbox.transaction(Message("x", {}, "m"), group="g"):
        pass
    assert await inbox.seen("g", "m")
    inbox.close()
    with pytest.raises(ValueError):
        SQLiteInbox(tmp_path / "x.db", table="bad name; DROP")


async def _settled(bus: MessageBus, within: float = 10.0) -> None:
    """Wait until the bus's groups hold no message, pending or in flight."""
    deadline = time.monotonic() + within
    while any(g.pending or g.in_flight for g in await bus.groups()):
        assert time.monotonic() < deadline, "messages were left unsettled"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_bus_handlers_use_the_inbox_for_exactly_once_effects(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "read.db")
    inbox.connection.execute("CREATE TABLE effects (msg_id TEXT)")
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db?dedup_window=0.01") as bus:
        calls = Recorder()

        async def project(msg: Message) -> None:
            await calls(msg)
            async with inbox.transaction(msg) as db:
                db.execute("INSERT INTO effects VALUES (?)", (msg.msg_id,))

        bus.subscribe("e", project, group="proj")
        await bus.publish("e", {}, msg_id="a")
        await calls.wait(1)
        await asyncio.sleep(0.05)  # past the dedup window: the same id is published again
        await bus.publish("e", {}, msg_id="a")
        await bus.publish("e", {}, msg_id="b")
        await calls.wait(3)
        await _settled(bus)  # the repeat of "a" was acked without a second effect
        assert await bus.dlq.list() == []
        assert [m.msg_id for m in calls.messages] == ["a", "a", "b"]
    rows = inbox.connection.execute("SELECT msg_id FROM effects ORDER BY msg_id").fetchall()
    assert rows == [("a",), ("b",)]
    inbox.close()
