"""The SQLite store backend's file: its schema, how it is recognised, and the
store's SQLite errors.

The schema is created on first use, inside ``BEGIN IMMEDIATE`` so that two
processes opening a new file at once agree on it. A table ``eventflux_meta``
identifies the file as an eventflux event store and records the schema
version; a file that holds other tables but not this one is refused without
being changed (not even switched to WAL).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from ..._internal.sqlite import SQLiteErrors, connect, translate_error, use_wal
from ...exceptions import (
    ConfigurationError,
    NotAnEventStoreError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["ERRORS", "SCHEMA_VERSION", "prepare_file"]

#: The store's errors for SQLite trouble (see :func:`eventflux._internal.sqlite.translate_error`).
ERRORS: Final = SQLiteErrors(
    noun="event store",
    busy=StoreBusyError,
    unavailable=StoreUnavailableError,
    not_a_database=NotAnEventStoreError,
    other=StoreError,
    closed=StoreClosedError,
)

SCHEMA_VERSION: Final = 1
STORE_FORMAT: Final = "eventflux-event-store"
META_TABLE: Final = "eventflux_meta"

_DDL: Final = (
    """CREATE TABLE eventflux_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE eventflux_streams (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL DEFAULT 0,
        hidden_before INTEGER NOT NULL DEFAULT 1,
        hard_deleted INTEGER NOT NULL DEFAULT 0,
        max_count INTEGER,
        max_age_us INTEGER,
        last_recorded_at INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    """CREATE TABLE eventflux_events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        id BLOB NOT NULL,
        stream TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        data BLOB NOT NULL,
        metadata BLOB NOT NULL,
        schema_version INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL
    )""",
    "CREATE UNIQUE INDEX eventflux_events_stream_version ON eventflux_events (stream, version)",
    "CREATE UNIQUE INDEX eventflux_events_id ON eventflux_events (id)",
    """CREATE TABLE eventflux_snapshots (
        stream TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        data BLOB NOT NULL,
        schema_version INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(r[0]) for r in rows}


def _check_meta(conn: sqlite3.Connection, path: str) -> None:
    rows = conn.execute(f"SELECT key, value FROM {META_TABLE}").fetchall()
    meta = {str(k): str(v) for k, v in rows}
    if meta.get("format") != STORE_FORMAT:
        raise NotAnEventStoreError(
            f"{path!r} has a table {META_TABLE} but it does not describe an eventflux "
            "event store; point the URL at another file"
        )
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise NotAnEventStoreError(f"{path!r} has an unreadable schema version") from None
    if version > SCHEMA_VERSION:
        raise NotAnEventStoreError(
            f"{path!r} holds an event store of schema version {version}, newer than this "
            f"eventflux understands ({SCHEMA_VERSION}); upgrade eventflux"
        )


def _create(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = _tables(conn)  # again, under the write lock: another process may have won
        if META_TABLE in tables:
            _check_meta(conn, path)
        elif tables:
            raise NotAnEventStoreError(_foreign_message(path, tables))
        else:
            for statement in _DDL:
                conn.execute(statement)
            conn.executemany(
                f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)",
                [("format", STORE_FORMAT), ("schema_version", str(SCHEMA_VERSION))],
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _foreign_message(path: str, tables: set[str]) -> str:
    shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
    return (
        f"{path!r} is a SQLite database with other tables ({shown}) but no eventflux "
        "event store; it was left unchanged. Point the URL at a new file or an existing store"
    )


def prepare_file(path: str, busy_timeout: float) -> None:
    """Make sure ``path`` holds an eventflux store: create the schema in a new or
    empty file, check it in an existing one. Raises NotAnEventStoreError (and
    writes nothing) for a file that is not a SQLite database or holds other tables.
    """
    if Path(path).is_dir():
        raise ConfigurationError(f"{path!r} is a folder; the sqlite:// URL must name a file")
    try:
        conn = connect(path, busy_timeout)
    except sqlite3.Error as e:
        raise translate_error(e, path, busy_timeout, ERRORS) from e
    try:
        tables = _tables(conn)  # reading first: a foreign file must stay untouched
        if tables and META_TABLE not in tables:
            raise NotAnEventStoreError(_foreign_message(path, tables))
        if META_TABLE in tables:
            _check_meta(conn, path)
        use_wal(conn, path, ERRORS)
        if META_TABLE not in tables:
            _create(conn, path)
    except sqlite3.Error as e:
        raise translate_error(e, path, busy_timeout, ERRORS) from e
    finally:
        conn.close()
