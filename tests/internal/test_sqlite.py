"""SQLite set up once: connections, error translation, the shared writer with a
SAVEPOINT per job."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from eventflux._internal.sqlite import (
    ErrorKind,
    SQLiteErrors,
    classify,
    connect,
    data_version,
    switch_to_wal,
    translate_error,
    use_wal,
)
from eventflux._internal.sqlite_writer import (
    RetryCarefully,
    SQLiteWriter,
    acquire_writer,
    release_writer,
)
from eventflux.exceptions import (
    BusClosedError,
    BusError,
    BusUnavailableError,
    ConfigurationError,
)

# A family other than the store's: the module serves every port.
ERRORS = SQLiteErrors(
    noun="bus",
    busy=BusUnavailableError,
    unavailable=BusUnavailableError,
    not_a_database=ConfigurationError,
    other=BusError,
    closed=BusClosedError,
)


def _error_of(fn: object) -> sqlite3.Error:
    assert callable(fn)
    try:
        fn()
    except sqlite3.Error as e:
        return e
    raise AssertionError("no sqlite3 error")


def test_errors_are_classified_and_translated_into_the_callers_family(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    holder = connect(path, 0.0)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = connect(path, 0.0)
    busy = _error_of(lambda: other.execute("BEGIN IMMEDIATE"))
    holder.execute("ROLLBACK")
    assert classify(busy) is ErrorKind.BUSY
    err = translate_error(busy, path, 0.2, ERRORS)
    assert isinstance(err, BusUnavailableError)
    assert "busy_timeout" in str(err)
    assert "0.2 s" in str(err)

    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"not a database\n" * 100)
    garbage = _error_of(lambda: connect(str(notes), 0.0).execute("SELECT 1 FROM t"))
    assert classify(garbage) is ErrorKind.NOT_A_DATABASE
    assert isinstance(translate_error(garbage, str(notes), 1, ERRORS), ConfigurationError)

    missing = str(tmp_path / "no" / "such" / "folder.db")
    cannot = _error_of(lambda: connect(missing, 0.0))
    assert classify(cannot) is ErrorKind.CANNOT_OPEN
    message = str(translate_error(cannot, missing, 1, ERRORS))
    assert "folder" in message
    assert "bus" in message

    syntax = _error_of(lambda: holder.execute("SELEKT"))
    assert classify(syntax) is ErrorKind.OTHER
    assert type(translate_error(syntax, path, 1, ERRORS)) is BusError
    holder.close()
    other.close()


def test_read_only_file_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    conn = connect(str(path), 0.0)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    error = _error_of(lambda: ro.execute("INSERT INTO t VALUES (1)"))
    ro.close()
    assert classify(error) is ErrorKind.UNUSABLE
    assert isinstance(translate_error(error, str(path), 1, ERRORS), BusUnavailableError)


def test_wal_and_the_change_counter(tmp_path: Path) -> None:
    path = str(tmp_path / "wal.db")
    a, b = connect(path, 1.0), connect(path, 1.0)
    use_wal(a, path, ERRORS, 1.0)
    assert a.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    before = data_version(a)
    b.execute("CREATE TABLE t (x)")
    assert data_version(a) != before  # another connection committed
    a.close()
    b.close()


def _switch_at_once(path: str, connections: int) -> list[BaseException]:
    """Switch ``path`` to WAL from ``connections`` threads released together;
    what they raised."""
    conns = [connect(path, 5.0) for _ in range(connections)]
    start = threading.Barrier(connections)
    failures: list[BaseException] = []

    def switch(conn: sqlite3.Connection) -> None:
        start.wait()
        try:
            conn.execute("SELECT name FROM sqlite_master").fetchall()
            use_wal(conn, path, ERRORS, 5.0)
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=switch, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for conn in conns:
        conn.close()
    return failures


def test_connections_switching_one_new_file_to_wal_at_once_all_succeed(tmp_path: Path) -> None:
    # SQLite refuses one of two simultaneous switches at once ("database is
    # locked", no busy wait): without the retry about 7% of these rounds fail
    for round_ in range(100):
        failures = _switch_at_once(str(tmp_path / f"race{round_}.db"), 4)
        assert failures == [], f"round {round_}: {failures!r}"


def test_switching_to_wal_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = str(tmp_path / "held.db")
    holder = connect(path, 0.0)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    conn = connect(path, 0.2)
    started = time.monotonic()
    error = _error_of(lambda: switch_to_wal(conn, 0.2))
    waited = time.monotonic() - started
    holder.execute("ROLLBACK")
    assert classify(error) is ErrorKind.BUSY
    assert 0.15 < waited < 3.0
    assert switch_to_wal(conn, 0.2) == "wal"  # free again: switched
    conn.close()
    holder.close()


@pytest.mark.asyncio
async def test_writer_isolates_each_job_in_a_savepoint(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    setup = connect(path, 1.0)
    setup.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    setup.close()
    writer = acquire_writer(path, synchronous="NORMAL", busy_timeout=1.0, errors=ERRORS)
    again = acquire_writer(path, synchronous="NORMAL", busy_timeout=1.0, errors=ERRORS)
    assert again is writer  # one writer per file and settings in a process
    release_writer(again)
    carefully: list[bool] = []

    def insert(x: int) -> Callable[[sqlite3.Connection, int, bool], int]:
        return lambda conn, now, careful: conn.execute("INSERT INTO t VALUES (?)", (x,)).rowcount

    def retried(conn: sqlite3.Connection, now: int, careful: bool) -> int:
        carefully.append(careful)
        conn.execute("INSERT INTO t VALUES (100)")
        if not careful:
            raise RetryCarefully  # its savepoint is rolled back: no duplicate key
        return now

    try:
        jobs = [writer.submit(insert(1)), writer.submit(insert(1)), writer.submit(insert(2))]
        jobs.append(writer.submit(retried))
        jobs.append(writer.submit(lambda conn, now, careful: conn.execute("SELEKT").rowcount))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        assert outcomes[0] == 1
        assert isinstance(outcomes[1], BusError)  # the duplicate key fails alone
        assert isinstance(outcomes[1].__cause__, sqlite3.IntegrityError)
        assert outcomes[2] == 1
        assert isinstance(outcomes[3], int)
        assert outcomes[3] > 0
        assert carefully == [False, True]
        assert type(outcomes[4]) is BusError
        rows = await writer.submit(
            lambda conn, now, careful: conn.execute("SELECT x FROM t ORDER BY x").fetchall()
        )
        assert rows == [(1,), (2,), (100,)]
    finally:
        await asyncio.to_thread(release_writer, writer)
    with pytest.raises(BusClosedError, match="the bus is closed"):
        writer.submit(insert(3))


@pytest.mark.asyncio
async def test_writer_hooks_run_on_its_thread_and_cannot_break_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "hooks.db")
    watcher = connect(path, 1.0)
    use_wal(watcher, path, ERRORS, 1.0)
    commits: list[int] = []
    versions: list[int] = []
    ticked = threading.Semaphore(0)

    def on_commit(conn: sqlite3.Connection) -> None:
        commits.append(conn.execute("SELECT count(*) FROM t").fetchall()[0][0])
        if len(commits) == 2:
            raise RuntimeError("a broken hook")

    def tick(conn: sqlite3.Connection) -> None:
        versions.append(data_version(conn))
        ticked.release()

    writer = SQLiteWriter(
        path,
        synchronous="OFF",
        busy_timeout=1.0,
        errors=ERRORS,
        on_commit=on_commit,
        tick=tick,
        tick_every=0.01,
    )
    try:
        await writer.submit(lambda conn, now, careful: conn.execute("CREATE TABLE t (x)"))
        assert commits == [0]
        with caplog.at_level("ERROR", logger="eventflux"):
            assert (
                await writer.submit(
                    lambda conn, now, careful: conn.execute("INSERT INTO t VALUES (1)").rowcount
                )
                == 1
            )  # the job committed: the hook's failure is logged, not the caller's
        assert commits == [0, 1]
        assert "commit hook" in caplog.text
        assert await asyncio.to_thread(ticked.acquire, True, 10)  # ticks run while idle
        before = versions[-1]
        watcher.execute("INSERT INTO t VALUES (2)")  # another connection commits
        async with asyncio.timeout(10):
            while versions[-1] == before:  # a later tick sees the change counter move
                assert await asyncio.to_thread(ticked.acquire, True, 10)
    finally:
        await asyncio.to_thread(writer.stop)
        watcher.close()
