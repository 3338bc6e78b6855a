"""The SQLite read model: units of work, lock waits, snapshots, scripts, URLs."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from tests.cqrs._waits import LoopTicks

from eventflux import ConfigurationError, StoreBusyError, StoreUnavailableError
from eventflux.cqrs import SQLiteReadModel, SQLiteTransaction, UnitOfWork
from eventflux.cqrs._sqlite_tx import split_script


@pytest.mark.asyncio
async def test_a_unit_of_work_commits_writes_and_checkpoint_together(tmp_path: Path) -> None:
    model = SQLiteReadModel(tmp_path / "rm.db")
    assert await model.checkpoint("p") == 0  # no table yet
    assert model.checkpoints() == {}
    async with model.unit_of_work("p") as uow:
        assert (uow.checkpoint, uow.is_new) == (0, True)
        uow.tx.execute("CREATE TABLE t (x INTEGER)")
        uow.tx.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
        assert uow.tx.fetch_value("SELECT sum(x) FROM t") == 3
        uow.checkpoint = 7
    assert await model.checkpoint("p") == 7

    async def crash() -> None:
        async with model.unit_of_work("p") as uow:
            assert (uow.checkpoint, uow.is_new) == (7, False)
            uow.tx.execute("INSERT INTO t VALUES (100)")
            uow.checkpoint = 8
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        await crash()
    assert await model.checkpoint("p") == 7
    assert model.fetch_all("SELECT x FROM t ORDER BY x") == [{"x": 1}, {"x": 2}]
    assert model.fetch_one("SELECT x FROM t WHERE x > 5") is None
    assert model.checkpoints() == {"p": 7}
    assert repr(model) == f"SQLiteReadModel({str(tmp_path / 'rm.db')!r})"
    await model.close()


@pytest.mark.asyncio
async def test_waiting_for_another_writer_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "rm.db"
    model = SQLiteReadModel(path)
    async with model.unit_of_work("p"):
        pass
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    async with LoopTicks() as ticks, model.unit_of_work("p") as uow:
        uow.checkpoint = 1
    assert ticks.count >= 10
    assert await model.checkpoint("p") == 1

    impatient = SQLiteReadModel(path, busy_timeout=0.05)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreBusyError, match="stayed locked"):
        async with impatient.unit_of_work("p"):
            pass
    other.execute("COMMIT")
    other.close()
    await impatient.close()
    await model.close()


@pytest.mark.asyncio
async def test_snapshot_reads_one_committed_state(tmp_path: Path) -> None:
    model = SQLiteReadModel(tmp_path / "rm.db")
    async with model.unit_of_work("p") as uow:
        uow.tx.script("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
    with model.snapshot() as db:
        assert db.fetch_value("SELECT count(*) FROM t") == 1
        async with model.unit_of_work("p") as uow:
            uow.tx.execute("INSERT INTO t VALUES (2)")
        assert db.fetch_value("SELECT count(*) FROM t") == 1  # same snapshot
        assert db.fetch_all("SELECT x FROM t") == [{"x": 1}]
        assert db.fetch_one("SELECT x FROM t") == {"x": 1}
    assert model.fetch_value("SELECT count(*) FROM t") == 2
    await model.close()


def test_split_script_keeps_triggers_whole() -> None:
    script = """
        CREATE TABLE a (x INTEGER);
        CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = 1; DELETE FROM a; END;
        INSERT INTO a VALUES (';');
    """
    assert [s.split()[1] for s in split_script(script)] == ["TABLE", "TRIGGER", "INTO"]
    assert split_script("  ;  ") == []
    assert split_script("SELECT 1") == ["SELECT 1;"]


def test_urls() -> None:
    assert SQLiteReadModel.from_url("sqlite:///x.db").path == "x.db"
    assert SQLiteReadModel.from_url("sqlite:////abs/my%20read.db").path == "/abs/my read.db"
    for bad in ("postgresql://h/db", "sqlite://host/x.db", "sqlite:///"):
        with pytest.raises(ConfigurationError):
            SQLiteReadModel.from_url(bad)


@pytest.mark.asyncio
async def test_swap_needs_a_sqlite_model(tmp_path: Path) -> None:
    model = SQLiteReadModel(tmp_path / "rm.db")
    with pytest.raises(TypeError, match="SQLiteReadModel"):
        async with model.swap_in(object(), "p"):  # type: ignore[arg-type]
            pass


@pytest.mark.asyncio
async def test_full_durability_and_database_failures(tmp_path: Path) -> None:
    model = SQLiteReadModel(tmp_path / "rm.db", durability="full")
    async with model.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (x INTEGER)")
        uow.checkpoint = 3
    assert await model.checkpoint("p") == 3

    # a cancellation while the commit runs in its thread waits for it, then propagates
    async def slow_batch() -> None:
        async with model.unit_of_work("p") as uow:
            uow.tx.execute("INSERT INTO t VALUES (1)")
            uow.checkpoint = 4

    task = asyncio.create_task(slow_batch())
    for _ in range(50):  # cancel at some point of the batch, whichever it is
        await asyncio.sleep(0)
        if task.done():
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    position = await model.checkpoint("p")
    rows = model.fetch_value("SELECT count(*) FROM t")
    assert (position, rows) in ((3, 0), (4, 1))  # all of the batch or none of it
    await model.close()

    with pytest.raises(ConfigurationError, match="durability"):
        SQLiteReadModel(tmp_path / "x.db", durability="fast")
    (tmp_path / "dir.db").mkdir()
    broken = SQLiteReadModel(tmp_path / "dir.db")
    with pytest.raises(StoreUnavailableError, match="failed"):
        async with broken.unit_of_work("p"):
            pass


@pytest.mark.asyncio
async def test_run_unit_of_work_runs_on_the_writer_thread(tmp_path: Path) -> None:
    import threading
    import time

    model = SQLiteReadModel(tmp_path / "rm.db", durability="full")
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def work(uow: UnitOfWork[SQLiteTransaction]) -> int:
        seen.append(threading.get_ident())
        if uow.is_new:
            uow.tx.execute("CREATE TABLE t (x INTEGER)")
        uow.tx.execute("INSERT INTO t VALUES (?)", (uow.checkpoint,))
        uow.checkpoint += 1
        return uow.checkpoint

    assert await model.run_unit_of_work("p", work) == 1
    assert await model.run_unit_of_work("p", work) == 2
    assert seen[0] == seen[1] != loop_thread

    def failing(uow: UnitOfWork[SQLiteTransaction]) -> None:
        uow.tx.execute("INSERT INTO t VALUES (99)")
        uow.checkpoint = 50
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await model.run_unit_of_work("p", failing)
    assert await model.checkpoint("p") == 2
    assert model.fetch_value("SELECT count(*) FROM t") == 2

    def slow(uow: UnitOfWork[SQLiteTransaction]) -> None:
        time.sleep(0.05)
        uow.tx.execute("INSERT INTO t VALUES (7)")
        uow.checkpoint = 3

    task = asyncio.create_task(model.run_unit_of_work("p", slow))
    await asyncio.sleep(0.01)
    task.cancel()  # the batch on the thread finishes first; then the cancellation
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await model.checkpoint("p") == 3
    assert model.fetch_value("SELECT count(*) FROM t") == 3
    await model.close()
