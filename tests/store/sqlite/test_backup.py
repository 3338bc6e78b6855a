"""Online backups of a SQLite store: taken while 8 processes write, through the
command line, a backup opens as a store and holds a prefix of the store's
acknowledged history; it never replaces a file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventflux import NewEvent, StoreError, open_store

CHILD = Path(__file__).with_name("_append_child.py")
EXE = Path(sys.executable).parent / "eventflux"


async def _versions(url: str, streams: list[str]) -> dict[str, int]:
    async with await open_store(url, create=False) as store:
        return {s: await store.stream_version(s) for s in streams}


def _wait_for(predicate, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_backup_during_eight_writers_holds_a_prefix_of_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/live.db"

    async def create() -> None:
        async with await open_store(url) as store:
            await store.append("setup", [NewEvent("Created", {})])

    asyncio.run(create())
    streams = [f"w-{i}" for i in range(8)]
    writers = [subprocess.Popen([sys.executable, str(CHILD), url, "writer", s]) for s in streams]
    try:
        _wait_for(lambda: min(asyncio.run(_versions(url, streams)).values()) >= 20)

        async def head() -> int:
            async with await open_store(url, create=False) as store:
                return await store.last_position()

        acknowledged = asyncio.run(head())  # committed before the backup starts
        dest = tmp_path / "backups" / "live-copy.db"
        dest.parent.mkdir()
        done = subprocess.run(
            [str(EXE), "backup", "--store", url, str(dest)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "backed up" in done.stdout
        time.sleep(0.3)  # the writers go on after the backup
        for w in writers:
            assert w.poll() is None  # no writer failed meanwhile
    finally:
        for w in writers:
            w.kill()
            w.wait()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["live-copy.db"]  # one file

    async def compare() -> None:
        async with (
            await open_store(f"sqlite:///{dest}", create=False) as copy,
            await open_store(url, create=False) as live,
        ):
            assert await copy.store_id() == await live.store_id()
            copied = [(e.id, e.stream, e.version, e.position) async for e in copy.read_all()]
            history = [(e.id, e.stream, e.version, e.position) async for e in live.read_all()]
            assert len(copied) < len(history)  # the writers went on after it
            assert copied == history[: len(copied)]  # a prefix of the history
            assert copied[-1][3] >= acknowledged  # everything acknowledged before it
            for s in streams:
                versions = [e.version async for e in copy.read(s)]
                assert versions == list(range(1, len(versions) + 1))
                assert len(versions) >= 20

    check = sqlite3.connect(dest)  # one self-contained file, sound
    assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert check.execute("PRAGMA journal_mode").fetchall() == [("delete",)]
    check.close()
    asyncio.run(compare())


@pytest.mark.asyncio
async def test_a_backup_never_replaces_a_file(tmp_path: Path) -> None:
    async with await open_store(f"sqlite:///{tmp_path}/e.db") as store:
        await store.append("s", [NewEvent("X", {})])
        taken = tmp_path / "taken.db"
        taken.write_text("mine")
        with pytest.raises(StoreError, match="never replaces"):
            await store.backup(taken)
        assert taken.read_text() == "mine"
        with pytest.raises(StoreError, match="folder"):
            await store.backup(tmp_path / "no" / "such" / "dir.db")
        last = await store.backup(tmp_path / "copy.db")
        assert last == await store.last_position()
    left = set(os.listdir(tmp_path))
    assert {"copy.db", "e.db", "taken.db"} <= left
    assert not [name for name in left if "partial" in name]  # nothing half-written is left
    async with await open_store(f"sqlite:///{tmp_path}/copy.db", create=False) as copy:
        assert await copy.stream_version("s") == 1
