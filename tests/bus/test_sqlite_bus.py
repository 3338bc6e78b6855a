"""SQLite bus specifics: the file, the schema, other processes, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from eventflux import (
    BusBusyError,
    BusClosedError,
    BusError,
    BusUnavailableError,
    ConfigurationError,
    NotABusError,
    StoreUnavailableError,
    open_store,
)
from eventflux.bus import OutgoingMessage, open_bus
from eventflux.bus.sqlite import SQLiteBusBackend
from eventflux.bus.sqlite.ops import Ops
from eventflux.testing.bus_contract import Recorder, eventually


def _snapshot(path: Path) -> tuple[bytes, list[tuple[str, str]], str]:
    """The file's bytes, its schema and its journal mode."""
    with sqlite3.connect(path) as db:
        schema = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    return path.read_bytes(), schema, mode


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "setup",
    [
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY)",
        "CREATE VIEW answer AS SELECT 42",
        "PRAGMA application_id = 1234",
        "CREATE TABLE eventflux_events (position INTEGER PRIMARY KEY)",  # a store's file
    ],
)
async def test_a_file_holding_anything_else_is_refused_and_left_unchanged(
    tmp_path: Path, setup: str
) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute(setup)
    before = _snapshot(path)
    with pytest.raises(NotABusError, match="left unchanged") as info:
        await open_bus(f"sqlite:///{path}")
    assert "a file of its own" in str(info.value)
    assert _snapshot(path) == before
    assert before[2] == "delete"  # not even switched to WAL
    assert not (tmp_path / "app.db-wal").exists()


@pytest.mark.asyncio
async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    async with await open_bus(url):
        pass
    with sqlite3.connect(tmp_path / "bus.db") as db:
        db.execute("UPDATE bus_meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(NotABusError, match="schema version 99"):
        await open_bus(url)


@pytest.mark.asyncio
async def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    junk = b"this is not a database" * 100
    (tmp_path / "junk.db").write_bytes(junk)
    with pytest.raises(NotABusError, match="not a SQLite database"):
        await open_bus(f"sqlite:///{tmp_path}/junk.db")
    assert (tmp_path / "junk.db").read_bytes() == junk


@pytest.mark.asyncio
async def test_a_folder_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="folder"):
        await open_bus(f"sqlite:///{tmp_path}")


@pytest.mark.asyncio
async def test_a_version_1_file_is_upgraded_keeping_its_delivery_counts(tmp_path: Path) -> None:
    path = tmp_path / "bus.db"
    url = f"sqlite:///{path}"
    async with await open_bus(url) as bus:
        bus.subscribe("old", Recorder(), group="g")
        await bus.ready()
    async with await open_bus(url) as bus:
        await bus.publish("old", {"n": 1})
    with sqlite3.connect(path) as db:  # what a file of the first schema looked like
        db.execute("ALTER TABLE bus_queue DROP COLUMN runs")
        db.execute("UPDATE bus_queue SET deliveries = 2")
        db.execute("UPDATE bus_meta SET value = 1 WHERE key = 'schema_version'")
    async with await open_bus(url) as bus:
        rec = Recorder()
        bus.subscribe("old", rec, group="g")
        await rec.wait(1)
        assert rec.messages[0].attempt == 3  # two earlier deliveries counted
    with sqlite3.connect(path) as db:
        (version,) = db.execute(
            "SELECT value FROM bus_meta WHERE key = 'schema_version'"
        ).fetchone()
    assert version == 2


@pytest.mark.asyncio
async def test_environment_failures_raise_the_bus_errors_the_store_raises_for_them(
    tmp_path: Path,
) -> None:
    # a missing folder: unavailable, as for the store (not a configuration error)
    with pytest.raises(BusUnavailableError, match="cannot open") as info:
        await open_bus(f"sqlite:///{tmp_path}/no/such/dir/bus.db")
    assert not isinstance(info.value, ConfigurationError)
    with pytest.raises(StoreUnavailableError, match="cannot open"):
        await open_store(f"sqlite:///{tmp_path}/no/such/dir/store.db")
    # a lock held past busy_timeout: BusBusyError, a TimeoutError (the store: StoreBusyError)
    path = tmp_path / "locked.db"
    async with await open_bus(f"sqlite:///{path}"):
        pass
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        async with await open_bus(f"sqlite:///{path}?busy_timeout=0.2") as bus:
            with pytest.raises(BusBusyError, match="busy timeout") as busy:
                await bus.publish("x", {})
            assert isinstance(busy.value, TimeoutError | BusUnavailableError)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.asyncio
async def test_messages_from_another_process_wake_members(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    async with await open_bus(url) as bus:
        rec = Recorder()
        bus.subscribe("remote", rec, group="g")
        await bus.ready()
        script = textwrap.dedent(
            f"""
            import asyncio
            from eventflux.bus import open_bus
            async def main():
                async with await open_bus({url!r}) as bus:
                    await bus.publish_many([("remote", {{"n": i}}) for i in range(50)])
            asyncio.run(main())
            """
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await rec.wait(50, within=10)
        assert sorted(m.data["n"] for m in rec.messages) == list(range(50))


@pytest.mark.asyncio
async def test_concurrent_publishes_share_commits(tmp_path: Path) -> None:
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        rec = Recorder()
        bus.subscribe("many", rec, group="g", concurrency=64)
        await asyncio.gather(*(bus.publish("many", {"n": i}) for i in range(500)))
        await rec.wait(500, within=20)
        assert sorted(m.data["n"] for m in rec.messages) == list(range(500))


@pytest.mark.asyncio
async def test_the_dedup_table_is_trimmed(tmp_path: Path) -> None:
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db?dedup_window=0.05") as bus:
        backend = bus.backend
        assert isinstance(backend, SQLiteBusBackend)
        await bus.publish_many([OutgoingMessage("d", {}, msg_id=f"m{i}") for i in range(20)])
        await asyncio.sleep(0.1)
        await backend.run(Ops.housekeeping, 1.0)
        left = await backend.run(
            lambda conn: conn.execute("SELECT count(*) FROM bus_dedup").fetchone()[0]
        )
        assert left == 0


@pytest.mark.asyncio
async def test_a_slow_consumer_leaves_the_backlog_on_disk(tmp_path: Path) -> None:
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        gate = asyncio.Event()
        seen: list[int] = []

        async def slow(msg: object) -> None:
            seen.append(1)
            await gate.wait()

        bus.subscribe("slow", slow, group="g", concurrency=4)
        await bus.publish_many([("slow", {"n": i}) for i in range(2000)])
        await eventually(lambda: len(seen) == 4)
        await asyncio.sleep(0.05)
        with sqlite3.connect(tmp_path / "bus.db") as db:
            leased, queued = db.execute(
                "SELECT count(owner IS NOT NULL AND avail_at > 0 OR NULL), count(*) FROM bus_queue"
            ).fetchone()
        assert (leased, queued) == (4, 2000)  # four leased, the backlog on disk
        gate.set()
        await eventually(lambda: len(seen) == 2000, 20)


@pytest.mark.asyncio
async def test_closing_a_handle_with_another_open_keeps_the_other_working(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    one, two = await open_bus(url), await open_bus(url)
    rec = Recorder()
    two.subscribe("x", rec, group="g")
    await two.ready()
    await one.close()
    start = time.monotonic()
    await two.publish("x", {})
    await rec.wait(1)
    assert time.monotonic() - start < 5
    await two.close()


@pytest.mark.asyncio
async def test_operations_fail_cleanly_when_the_writer_is_gone(tmp_path: Path) -> None:
    bus = await open_bus(f"sqlite:///{tmp_path}/bus.db")
    backend = bus.backend
    assert isinstance(backend, SQLiteBusBackend)

    def broken(conn: sqlite3.Connection) -> None:
        error = sqlite3.OperationalError("disk I/O error")
        error.sqlite_errorname = "SQLITE_IOERR"  # as SQLite reports it
        raise error

    with pytest.raises(BusUnavailableError, match="disk I/O error"):
        await backend.run(broken)
    await bus.publish("x", {})  # one failing operation does not break the others
    await asyncio.to_thread(backend.writer.stop)
    with pytest.raises(BusClosedError, match="closed"):
        await bus.publish("x", {})
    await bus.close()


@pytest.mark.asyncio
async def test_groups_count_only_members_whose_handle_still_vouches_for_them(
    tmp_path: Path,
) -> None:
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        backend = bus.backend
        assert isinstance(backend, SQLiteBusBackend)
        bus.subscribe("work", Recorder(), group="g")
        await bus.ready()
        (gid,) = await backend.run(
            lambda conn: conn.execute("SELECT id FROM bus_groups WHERE name = 'g'").fetchone()
        )
        # A member of a process that was killed 20 s ago: its handle stopped vouching.
        await backend.run(
            lambda conn: conn.execute(
                "INSERT INTO bus_members (owner, grp, seen_at) VALUES ('killed', ?, ?)",
                (gid, time.time() - 20),
            )
        )
        (g,) = await bus.groups()
        assert g.members == 1
        stale = time.time() - 20  # now both look dead, until the handle vouches again
        await backend.run(lambda conn: conn.execute("UPDATE bus_members SET seen_at = ?", (stale,)))
        deadline = time.monotonic() + 20  # the handle vouches for its members every 5 s
        while (await bus.groups())[0].members != 1:
            assert time.monotonic() < deadline, "the live member was not vouched for again"
            await asyncio.sleep(0.1)
        (g,) = await bus.groups()
        assert g.members == 1  # vouched for again; the killed one was not


@pytest.mark.asyncio
async def test_publishes_share_a_commit_and_a_failing_one_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Ops.publish
    calls: list[int] = []

    def publish(self: Ops, conn: sqlite3.Connection, envs: list[Any], window: float) -> Any:
        calls.append(len(envs))
        if any(e.msg_id == "bad" for e in envs):
            raise sqlite3.IntegrityError("refused")
        return real(self, conn, envs, window)

    monkeypatch.setattr(Ops, "publish", publish)
    async with await open_bus(f"sqlite:///{tmp_path}/bus.db") as bus:
        rec = Recorder()
        bus.subscribe("x", rec, group="g")
        results = await asyncio.gather(
            *(bus.publish("x", {"n": i}, msg_id=f"m{i}") for i in range(5)),
            bus.publish("x", {"n": 99}, msg_id="bad"),
            return_exceptions=True,
        )
        assert results[:5] == [f"m{i}" for i in range(5)]
        assert isinstance(results[5], BusError)
        await rec.wait(5)
        await asyncio.sleep(0.05)
        assert sorted(m.msg_id for m in rec.messages) == [f"m{i}" for i in range(5)]
        assert len(calls) > 6  # the shared attempt, then each alone
        monkeypatch.setattr(Ops, "publish", real)
        await bus.publish("x", {"n": 99}, msg_id="bad")  # its id was not used up
        await rec.wait(6)
