"""Opening a SQLite read model's file, and taking its write lock.

Helpers of the SQLite backend; each takes the small :class:`SQLiteFile`
context (where the file is and how it is opened), never the backend itself.

Example::

    file = SQLiteFile("read.db", busy_timeout=30.0, durability="normal", scratch=False)
    conn = open_writer(file)
    begin_immediate(conn, file)  # waits for another process's writer, up to busy_timeout
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ...._internal.sqlite import (
    ErrorKind,
    SQLiteErrors,
    classify,
    switch_to_wal,
    translate_error,
)
from ....exceptions import (
    EventfluxError,
    StoreBusyError,
    StoreClosedError,
    StoreUnavailableError,
)
from ..backend import CHECKPOINTS_TABLE

__all__ = [
    "CHECKPOINTS_DDL",
    "DURABILITIES",
    "SQLiteFile",
    "begin_immediate",
    "open_reader",
    "open_writer",
    "try_begin_immediate",
]

CHECKPOINTS_DDL: Final = (
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} "
    "(name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at REAL NOT NULL, "
    "store_id TEXT)"
)
DURABILITIES: Final = ("normal", "full")


#: How the SQLite read model names SQLite trouble (the shared translation's table).
ERRORS: Final = SQLiteErrors(
    noun="read model",
    busy=StoreBusyError,
    unavailable=StoreUnavailableError,
    not_a_database=StoreUnavailableError,
    other=StoreUnavailableError,
    closed=StoreClosedError,
)


@dataclass(frozen=True, slots=True)
class SQLiteFile:
    """Where a SQLite read model lives and how its connections are opened.

    ``durability`` is ``"normal"`` (a power cut may lose the last commits,
    checkpoint and writes together, which the projection then redoes) or
    ``"full"`` (every commit synced). ``scratch`` marks a rebuild's scratch
    file: speed over durability, since a crash only means rebuilding again.
    """

    path: str
    busy_timeout: float
    durability: str
    scratch: bool = False

    def unavailable(self, error: sqlite3.Error) -> EventfluxError:
        """The error raised when the file cannot be used: the one translation of
        SQLite errors every port shares (disk full, cannot open, not a database,
        I/O error... each named as such)."""
        return translate_error(error, self.path, self.busy_timeout, ERRORS)

    def busy(self) -> StoreBusyError:
        """The error raised when another writer held the lock too long."""
        return StoreBusyError(
            f"the read model {self.path} stayed locked by another writer for "
            f"{self.busy_timeout} s; raise busy_timeout or find the long transaction"
        )


def _connect(file: SQLiteFile) -> sqlite3.Connection:
    Path(file.path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return sqlite3.connect(
            file.path, timeout=file.busy_timeout, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as e:
        raise file.unavailable(e) from e


def open_writer(file: SQLiteFile) -> sqlite3.Connection:
    """The writer connection: WAL (or, for a scratch file, an in-memory
    journal), the durability's ``synchronous``, the checkpoints table."""
    conn = _connect(file)
    try:
        if file.scratch:
            conn.execute("PRAGMA journal_mode=MEMORY")
            conn.execute("PRAGMA synchronous=OFF")
        else:
            switch_to_wal(conn, file.busy_timeout)
            conn.execute(f"PRAGMA synchronous={file.durability.upper()}")
        conn.execute(CHECKPOINTS_DDL)
        _add_store_id(conn)
        conn.execute("PRAGMA busy_timeout=0")  # lock waits: begin_immediate's own loop
    except sqlite3.Error as e:
        conn.close()
        raise file.unavailable(e) from e
    return conn


def _add_store_id(conn: sqlite3.Connection) -> None:
    """Give a checkpoints table made by an earlier version its ``store_id`` column
    (the event store each checkpoint belongs to; unknown for the old rows)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({CHECKPOINTS_TABLE})")}
    if "store_id" not in columns:
        try:
            conn.execute(f"ALTER TABLE {CHECKPOINTS_TABLE} ADD COLUMN store_id TEXT")
        except sqlite3.OperationalError as e:
            if "duplicate column" not in str(e):  # another process added it just now
                raise


def open_reader(file: SQLiteFile) -> sqlite3.Connection:
    """A read-only connection (queries, snapshots): in WAL mode it never waits
    for the writer, nor the writer for it."""
    conn = _connect(file)
    try:
        conn.execute("PRAGMA query_only=ON")
    except sqlite3.Error as e:
        conn.close()
        raise file.unavailable(e) from e
    return conn


def _locked(error: sqlite3.OperationalError) -> bool:
    return classify(error) is ErrorKind.BUSY


def try_begin_immediate(conn: sqlite3.Connection, file: SQLiteFile) -> bool:
    """One ``BEGIN IMMEDIATE`` attempt: False while another writer holds the lock,
    StoreUnavailableError on any other failure."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if not _locked(e):
            raise file.unavailable(e) from e
        return False
    return True


def begin_immediate(conn: sqlite3.Connection, file: SQLiteFile) -> None:
    """``BEGIN IMMEDIATE``, retried with a growing pause while another writer
    holds the lock (blocking: the writer thread calls it); StoreBusyError
    after ``busy_timeout``, StoreUnavailableError on any other failure."""
    deadline = time.monotonic() + file.busy_timeout
    delay = 0.001
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as e:
            if not _locked(e):
                raise file.unavailable(e) from e
            if time.monotonic() >= deadline:
                raise file.busy() from e
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
