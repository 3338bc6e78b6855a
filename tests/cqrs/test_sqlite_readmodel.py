"""What is SQLite's own in the SQLite read model: the file's write lock, durability,
scripts, the scratch file of a rebuild, failures of the file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from tests.cqrs._waits import LoopTicks

from eventflux import ConfigurationError, StoreBusyError, StoreUnavailableError
from eventflux.cqrs import UnitOfWork, open_read_model
from eventflux.cqrs.readmodel.sqlite import SQLiteReadModelBackend, split_script


@pytest.mark.asyncio
async def test_waiting_for_another_writer_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "rm.db"
    model = open_read_model(f"sqlite:///{path}")
    async with model.unit_of_work("p"):
        pass
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    asyncio.get_running_loop().call_later(0.2, other.execute, "COMMIT")
    async with LoopTicks() as ticks, model.unit_of_work("p") as uow:
        uow.checkpoint = 1
    assert ticks.count >= 10
    assert await model.checkpoint("p") == 1

    impatient = open_read_model(f"sqlite:///{path}?busy_timeout=0.05")
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreBusyError, match="stayed locked"):
        async with impatient.unit_of_work("p"):
            pass

    def work(uow: UnitOfWork) -> None:
        uow.checkpoint = 2

    with pytest.raises(StoreBusyError, match="stayed locked"):
        await impatient.run_unit_of_work("p", work)
    other.execute("COMMIT")
    other.close()
    await impatient.run_unit_of_work("p", work)  # and it recovers
    assert await model.checkpoint("p") == 2
    await impatient.close()
    await model.close()


@pytest.mark.asyncio
async def test_full_durability_and_database_failures(tmp_path: Path) -> None:
    model = open_read_model(f"sqlite:///{tmp_path}/rm.db", durability="full")
    async with model.unit_of_work("p") as uow:
        uow.tx.execute("CREATE TABLE t (x INTEGER)")
        uow.checkpoint = 3
    assert await model.checkpoint("p") == 3
    assert model.backend.file.durability == "full"  # type: ignore[attr-defined]

    # a cancellation at any point of a unit of work: all of it or none of it
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
    rows = await model.fetch_value("SELECT count(*) FROM t")
    assert (position, rows) in ((3, 0), (4, 1))
    await model.close()

    with pytest.raises(ConfigurationError, match="durability"):
        SQLiteReadModelBackend(tmp_path / "x.db", durability="fast")
    with pytest.raises(ConfigurationError, match="busy_timeout"):
        SQLiteReadModelBackend(tmp_path / "x.db", busy_timeout=0)
    (tmp_path / "dir.db").mkdir()
    broken = open_read_model(f"sqlite:///{tmp_path}/dir.db")
    with pytest.raises(StoreUnavailableError, match="cannot open the read model file"):
        async with broken.unit_of_work("p"):
            pass
    with pytest.raises(StoreUnavailableError, match="cannot open the read model file"):
        await broken.run_unit_of_work("p", lambda uow: None)


@pytest.mark.asyncio
async def test_looking_at_a_model_never_built_creates_no_file(tmp_path: Path) -> None:
    model = open_read_model(f"sqlite:///{tmp_path}/sub/rm.db")
    assert await model.checkpoints() == {}
    assert not (tmp_path / "sub" / "rm.db").exists()
    assert repr(model) == f"ReadModel('sqlite:///{tmp_path}/sub/rm.db')"
    await model.close()


@pytest.mark.asyncio
async def test_a_rebuild_writes_a_scratch_file_beside_the_live_one(tmp_path: Path) -> None:
    model = open_read_model(f"sqlite:///{tmp_path}/rm.db")
    (tmp_path / "rm.db.p_q.rebuild").write_text("a leftover of a crashed rebuild")
    fresh = await model.create_fresh("p/q")
    assert fresh.url == f"sqlite:///{tmp_path}/rm.db.p_q.rebuild"
    assert not (tmp_path / "rm.db.p_q.rebuild").exists()  # the leftover is gone
    async with fresh.unit_of_work("p/q") as uow:
        uow.tx.execute("CREATE TABLE t (x INTEGER)")
    assert (tmp_path / "rm.db.p_q.rebuild").exists()
    await fresh.discard()
    assert os.listdir(tmp_path) == []
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
