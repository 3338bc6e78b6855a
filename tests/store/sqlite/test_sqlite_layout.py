"""The SQLite store file's layout beyond the contract: the correlation index,
the store id, the application id, upgrading a store made by an earlier
version (several processes at once), and files of other programs."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from eventflux import NewEvent, NotAnEventStoreError, open_store
from eventflux.store.sqlite import reads
from eventflux.store.sqlite.schema import CORRELATION_INDEX, STORE_APPLICATION_ID

CHILD = Path(__file__).with_name("_append_child.py")


def _downgrade(path: Path) -> None:
    """Turn a store into one as an earlier version made it: no correlation index,
    no store id, no application id."""
    db = sqlite3.connect(path)
    db.execute(f"DROP INDEX {CORRELATION_INDEX}")
    db.execute("DELETE FROM eventflux_meta WHERE key = 'store_id'")
    db.execute("PRAGMA application_id = 0")
    db.commit()
    db.close()


def _layout(path: Path) -> tuple[int, bool, list[str]]:
    db = sqlite3.connect(path)
    try:
        app_id = db.execute("PRAGMA application_id").fetchall()[0][0]
        has_index = bool(
            db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                (CORRELATION_INDEX,),
            ).fetchall()
        )
        ids = [r[0] for r in db.execute("SELECT value FROM eventflux_meta WHERE key = 'store_id'")]
    finally:
        db.close()
    return app_id, has_index, ids


@pytest.mark.asyncio
async def test_correlation_reads_use_the_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    async with await open_store(url) as store:
        await store.append("s", [NewEvent("X", {}, metadata={"correlation_id": "c"})])
    db = sqlite3.connect(tmp_path / "e.db")
    try:
        for types, prefix in [(None, None), (("X",), None), (None, "s"), (("X", "Y"), "s")]:
            sql, params, _ = reads.log_query(0, 10, types, prefix, "c")
            plan = " ".join(str(r) for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert CORRELATION_INDEX in plan, plan
            assert "SCAN" not in plan, plan
    finally:
        db.close()


@pytest.mark.asyncio
async def test_the_store_id_is_recorded_once_and_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    async with await open_store(url) as store:
        first = await store.store_id()
    async with await open_store(url) as store, await open_store(url) as again:
        assert await store.store_id() == first
        assert await again.store_id() == first
    async with await open_store(f"sqlite:///{tmp_path}/other.db") as other:
        assert await other.store_id() != first
    assert _layout(tmp_path / "e.db") == (STORE_APPLICATION_ID, True, [first])


@pytest.mark.asyncio
async def test_a_store_of_an_earlier_version_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    async with await open_store(url) as store:
        await store.append("a", [NewEvent("X", {"n": 1}, metadata={"correlation_id": "c"})])
        await store.append("b", [NewEvent("X", {"n": 2}), NewEvent("X", {"n": 3})])
    _downgrade(path)
    assert _layout(path) == (0, False, [])
    async with await open_store(url) as store:
        store_id = await store.store_id()
        got = [e.data async for e in store.read_all(correlation_id="c")]
        assert got == [{"n": 1}]
        await store.append("b", [NewEvent("X", {"n": 4}, metadata={"correlation_id": "c"})])
        got = [e.data async for e in store.read_all(correlation_id="c")]
        assert got == [{"n": 1}, {"n": 4}]
    assert _layout(path) == (STORE_APPLICATION_ID, True, [store_id])


def test_processes_upgrading_one_store_at_once_agree_on_its_id(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"

    async def make() -> None:
        async with await open_store(url) as store:
            await store.append("a", [NewEvent("X", {}, metadata={"correlation_id": "c"})])

    asyncio.run(make())
    _downgrade(path)
    children = [
        subprocess.Popen([sys.executable, str(CHILD), url, "ident"], stdout=subprocess.PIPE)
        for _ in range(6)
    ]
    ids = set()
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        ids.add(out.strip().decode())
    assert len(ids) == 1
    assert _layout(path) == (STORE_APPLICATION_ID, True, list(ids))


def _foreign_file(path: Path, sql: list[str], app_id: int = 0) -> bytes:
    db = sqlite3.connect(path)
    for statement in sql:
        db.execute(statement)
    if app_id:
        db.execute(f"PRAGMA application_id = {app_id}")
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("sql", "app_id", "says"),
    [
        ([], 0x12345678, "application_id is 0x12345678"),
        (["CREATE TABLE t (x)"], 0x12345678, "another program"),
        (["CREATE VIEW v AS SELECT 1 AS x"], 0, "view v"),
        (["CREATE TABLE t (x)", "CREATE VIEW v AS SELECT x FROM t"], 0, "table t"),
    ],
    ids=["empty-with-app-id", "table-with-app-id", "only-a-view", "table-and-view"],
)
async def test_files_of_other_programs_are_refused_unchanged(
    tmp_path: Path, sql: list[str], app_id: int, says: str
) -> None:
    path = tmp_path / "theirs.db"
    before = _foreign_file(path, sql, app_id)
    with pytest.raises(NotAnEventStoreError, match=says) as info:
        await open_store(f"sqlite:///{path}")
    assert "left unchanged" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # noqa: ASYNC240


@pytest.mark.asyncio
async def test_an_empty_sqlite_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    _foreign_file(path, ["CREATE TABLE t (x)", "DROP TABLE t"])
    async with await open_store(f"sqlite:///{path}") as store:
        await store.append("s", [NewEvent("X", {})])
    assert _layout(path)[:2] == (STORE_APPLICATION_ID, True)


@pytest.mark.asyncio
async def test_a_store_file_with_a_view_of_the_users_own_stays_usable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    async with await open_store(url) as store:
        await store.append("s", [NewEvent("X", {})])
    db = sqlite3.connect(tmp_path / "e.db")
    db.execute("CREATE VIEW counts AS SELECT stream, count(*) AS n FROM eventflux_events")
    db.commit()
    db.close()
    async with await open_store(url) as store:
        assert await store.stream_version("s") == 1
