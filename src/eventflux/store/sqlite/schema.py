"""The SQLite store backend's file: its schema, how it is recognised, and the
store's SQLite errors.

The schema is created on first use, inside ``BEGIN IMMEDIATE`` so that two
processes opening a new file at once agree on it. A table ``eventflux_meta``
identifies the file as an eventflux event store and records the schema
version and the store's id (a UUID drawn when the store is created: read
models remember it, so they can tell one store from another); the file's
``application_id`` says the same to tools that read SQLite headers. A file
that belongs to another program (another ``application_id``, or tables or
views but no store) is refused without being changed (not even switched to
WAL). A store created by an earlier version gets what it lacks (the
correlation index, the store id, the application id) when it is opened, under
the write lock, by the first process that opens it.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Final

from ..._internal.sqlite import (
    SQLiteErrors,
    application_id,
    connect,
    translate_error,
    use_wal,
)
from ...exceptions import (
    ConfigurationError,
    NotAnEventStoreError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)

__all__ = [
    "CORRELATED",
    "CORRELATION_INDEX",
    "CORRELATION_OF",
    "ERRORS",
    "SCHEMA_VERSION",
    "STORE_APPLICATION_ID",
    "prepare_file",
]

#: The store's errors for SQLite trouble (see :func:`eventflux._internal.sqlite.translate_error`).
ERRORS: Final = SQLiteErrors(
    noun="event store",
    busy=StoreBusyError,
    unavailable=StoreUnavailableError,
    not_a_database=NotAnEventStoreError,
    other=StoreError,
    closed=StoreClosedError,
)

#: The layout's version. Additions that earlier versions can live with (the
#: correlation index, the store id, the application id) do not change it.
SCHEMA_VERSION: Final = 1
STORE_FORMAT: Final = "eventflux-event-store"
META_TABLE: Final = "eventflux_meta"
#: The SQLite ``application_id`` of an event store file ("EFST").
STORE_APPLICATION_ID: Final = 0x45465354
CORRELATION_INDEX: Final = "eventflux_events_correlation"
#: What the correlation index holds: the metadata's correlation id (None when the
#: metadata has none, or is empty). ``read_all(correlation_id=...)`` queries
#: repeat it word for word, so that SQLite uses the index.
CORRELATION_OF: Final = "json_extract(CAST(metadata AS TEXT), '$.correlation_id')"
#: The rows the index holds: those with JSON metadata (empty metadata is not JSON).
CORRELATED: Final = "json_valid(CAST(metadata AS TEXT))"
_CORRELATION_DDL: Final = (
    f"CREATE INDEX {CORRELATION_INDEX} ON eventflux_events ({CORRELATION_OF}, position) "
    f"WHERE {CORRELATED}"
)

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


def _objects(conn: sqlite3.Connection) -> dict[str, str]:
    """Every schema object of the file (tables, views, indexes, triggers): name -> type."""
    rows = conn.execute("SELECT name, type FROM sqlite_master").fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _check_meta(conn: sqlite3.Connection, path: str) -> dict[str, str]:
    """The store's meta rows, after checking that they describe a store this
    version of eventflux understands."""
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
    return meta


def _check_owner(conn: sqlite3.Connection, path: str, objects: dict[str, str]) -> None:
    """Refuse (without writing) a file that belongs to another program: another
    ``application_id``, or schema objects (tables, views...) but no store."""
    owner = application_id(conn)
    if owner not in (0, STORE_APPLICATION_ID):
        raise NotAnEventStoreError(
            f"{path!r} is a SQLite database of another program (its application_id is "
            f"0x{owner:08x}, an eventflux event store's is 0x{STORE_APPLICATION_ID:08x}); "
            "it was left unchanged. Point the URL at a new file or an existing store"
        )
    if META_TABLE not in objects and objects:
        raise NotAnEventStoreError(_foreign_message(path, objects))


def _missing(conn: sqlite3.Connection, objects: dict[str, str], meta: dict[str, str]) -> bool:
    """Whether a store created by an earlier version lacks something this version
    adds (the correlation index, the store id, the application id)."""
    return (
        CORRELATION_INDEX not in objects
        or "store_id" not in meta
        or application_id(conn) != STORE_APPLICATION_ID
    )


def _create_or_upgrade(conn: sqlite3.Connection, path: str) -> str:
    """Create the store in an empty file, or add what an earlier version's store
    lacks; returns the store id. Runs under the write lock (``BEGIN IMMEDIATE``)
    and looks again there: several processes may open the file at once, and
    the first one does the work."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        objects = _objects(conn)
        _check_owner(conn, path, objects)
        if META_TABLE in objects:
            meta = _check_meta(conn, path)
        else:
            for statement in _DDL:
                conn.execute(statement)
            conn.executemany(
                f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?)",
                [("format", STORE_FORMAT), ("schema_version", str(SCHEMA_VERSION))],
            )
            meta = {}
        if CORRELATION_INDEX not in objects:
            conn.execute(_CORRELATION_DDL)
        store_id = meta.get("store_id")
        if store_id is None:
            store_id = str(uuid.uuid4())
            conn.execute(
                f"INSERT INTO {META_TABLE} (key, value) VALUES ('store_id', ?)", (store_id,)
            )
        if application_id(conn) != STORE_APPLICATION_ID:
            conn.execute(f"PRAGMA application_id = {STORE_APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return store_id


def _foreign_message(path: str, objects: dict[str, str]) -> str:
    names = sorted(objects)
    shown = ", ".join(f"{objects[n]} {n}" for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return (
        f"{path!r} is a SQLite database with other contents ({shown}) but no eventflux "
        "event store; it was left unchanged. Point the URL at a new file or an existing store"
    )


def prepare_file(path: str, busy_timeout: float, *, create: bool = True) -> str:
    """Make sure ``path`` holds an eventflux store and return its store id:
    create the schema in a new or empty file (unless ``create`` is False: then
    :class:`~eventflux.StoreNotFoundError`), check it in an existing one (and
    add what an earlier version's store lacks). Raises NotAnEventStoreError,
    and writes nothing, for a file that is not a SQLite database, belongs to
    another program (``application_id``) or holds other tables or views.
    """
    if Path(path).is_dir():
        raise ConfigurationError(f"{path!r} is a folder; the sqlite:// URL must name a file")
    if not create and not Path(path).exists():
        raise StoreNotFoundError(f"there is no event store at {path!r} (the file does not exist)")
    try:
        conn = connect(path, busy_timeout)
    except sqlite3.Error as e:
        raise translate_error(e, path, busy_timeout, ERRORS) from e
    try:
        # reading first: a foreign file must stay untouched
        objects = _objects(conn)
        _check_owner(conn, path, objects)
        if not create and META_TABLE not in objects:
            raise StoreNotFoundError(f"there is no event store at {path!r} (the file is empty)")
        meta = _check_meta(conn, path) if META_TABLE in objects else {}
        use_wal(conn, path, ERRORS, busy_timeout)
        if META_TABLE in objects and not _missing(conn, objects, meta):
            return meta["store_id"]
        return _create_or_upgrade(conn, path)
    except sqlite3.Error as e:
        raise translate_error(e, path, busy_timeout, ERRORS) from e
    finally:
        conn.close()
