"""The SQLite bus's file: its tables (all named ``bus_*``), how a file is
recognised and prepared (:func:`prepare_file`), the bus's SQLite errors
(:data:`ERRORS`) and the schedule sentinel of a queue row.

A bus file holds the bus and nothing else: a file with other tables or views,
or an ``application_id`` set by another program, is refused with
:class:`~eventflux.NotABusError` and left unchanged (not even switched to
WAL), like the event store refuses a foreign file. The schema is created
inside ``BEGIN IMMEDIATE``, so two processes opening a new file at once agree
on it.

One table, ``bus_queue``, holds one row per (group, message): publishing
fans a message out to every group whose pattern matches. ``avail_at`` is the
whole schedule of a row:

* ``0``: ready, fetched oldest id first;
* a time: leased until then (``owner`` is set), or waiting for a redelivery
  (``owner`` is NULL); once past, the next fetch of its group makes it ready
  again (how a crashed member's leases come back);
* :data:`PARKED`: behind an older message of the same key in its group.
  When that head is acked or dead-lettered, the oldest parked row of the key
  becomes ready. So at most one message per key and group is ever in
  flight, whatever the number of members or processes.

``deliveries`` counts the times a row was handed out (with ``owner``, the
lease a settle must match); ``runs`` counts the handler runs that started
(recorded before a redelivered message's handler runs, and by a counted
nak): a delivery's attempt is ``runs + 1``, so a delivery lost before its
handler started (a member that died while fetching) does not use up
``max_deliver``.

``bus_members`` lists the members of every handle on the file, each with the
time its handle last vouched for it (every few seconds, see
:data:`MEMBER_TTL`): what ``bus.groups()`` counts as live members.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from ..._internal.sqlite import SQLiteErrors, connect, translate_error, use_wal
from ...exceptions import (
    BusBusyError,
    BusClosedError,
    BusError,
    BusUnavailableError,
    ConfigurationError,
    NotABusError,
)

__all__ = [
    "ERRORS",
    "MEMBER_FORGET",
    "MEMBER_TTL",
    "PARKED",
    "SCHEMA",
    "SCHEMA_VERSION",
    "prepare_file",
]

#: The bus's errors for SQLite trouble (see :func:`eventflux._internal.sqlite.translate_error`):
#: the same kinds as the event store's, in the bus's branch of the error tree.
ERRORS: Final = SQLiteErrors(
    noun="bus",
    busy=BusBusyError,
    unavailable=BusUnavailableError,
    not_a_database=NotABusError,
    other=BusError,
    closed=BusClosedError,
)

SCHEMA_VERSION: Final = 2
#: ``avail_at`` of a row parked behind an older message of its key.
PARKED: Final = 1e18
#: Seconds a member row counts as live after its handle last vouched for it
#: (handles vouch every 5 seconds; a killed process stops).
MEMBER_TTL: Final = 15.0
#: Seconds after which a member row nobody vouches for is deleted.
MEMBER_FORGET: Final = 300.0

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS bus_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO bus_meta (key, value) VALUES ('schema_version', 2), ('groups_version', 0);
CREATE TABLE IF NOT EXISTS bus_groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    pattern TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (name, pattern)
);
CREATE TABLE IF NOT EXISTS bus_queue (
    id INTEGER PRIMARY KEY,
    grp INTEGER NOT NULL,
    avail_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    subject TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    key TEXT,
    headers BLOB,
    data BLOB NOT NULL,
    published_at REAL NOT NULL,
    letter_id TEXT,
    runs INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS bus_queue_schedule ON bus_queue (grp, avail_at);
CREATE INDEX IF NOT EXISTS bus_queue_keys ON bus_queue (grp, key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS bus_dedup (
    msg_id TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_dedup_expiry ON bus_dedup (expires_at);
CREATE TABLE IF NOT EXISTS bus_letters (
    id TEXT PRIMARY KEY,
    grp INTEGER NOT NULL,
    subject TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    key TEXT,
    headers BLOB,
    data BLOB NOT NULL,
    published_at REAL NOT NULL,
    error TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    dead_at REAL NOT NULL,
    retrying INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_inbox (
    grp TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    handled_at REAL NOT NULL,
    PRIMARY KEY (grp, msg_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_inbox_age ON bus_inbox (handled_at);
CREATE TABLE IF NOT EXISTS bus_checkpoints (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_members (
    owner TEXT PRIMARY KEY,
    grp INTEGER NOT NULL,
    seen_at REAL NOT NULL
) WITHOUT ROWID;
"""

#: Version 1 files counted every hand-out as an attempt: their rows keep that count.
_FROM_V1: Final = (
    "ALTER TABLE bus_queue ADD COLUMN runs INTEGER NOT NULL DEFAULT 0",
    "UPDATE bus_queue SET runs = deliveries",
    "UPDATE bus_meta SET value = 2 WHERE key = 'schema_version'",
)


def _foreign(conn: sqlite3.Connection) -> list[str]:
    """What the file holds besides a bus: other tables, views, another program's id."""
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view')"
    ).fetchall()
    found = [
        f"{kind} {name}"
        for kind, name in rows
        if kind == "view" or not str(name).startswith(("bus_", "sqlite_"))
    ]
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id:
        found.append(f"application_id {app_id}")
    return sorted(found)


def _refuse(path: str, found: list[str]) -> NotABusError:
    shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
    return NotABusError(
        f"{path!r} is a SQLite database that holds something else ({shown}); it was left "
        "unchanged. A bus needs a file of its own: point the URL at a new file or an "
        "existing bus"
    )


def _version(conn: sqlite3.Connection) -> int | None:
    """The schema version of the file's bus (None: no bus tables yet)."""
    tables = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bus_meta'"
    ).fetchall()
    if not tables:
        return None
    row = conn.execute("SELECT value FROM bus_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def _create(conn: sqlite3.Connection, path: str) -> None:
    """Create or upgrade the tables (under the write lock: another process may race)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = _foreign(conn)  # again, under the lock
        if found:
            raise _refuse(path, found)
        for statement in filter(str.strip, SCHEMA.split(";\n")):
            conn.execute(statement)
        (version,) = conn.execute(
            "SELECT value FROM bus_meta WHERE key = 'schema_version'"
        ).fetchone()
        if version == 1:
            for statement in _FROM_V1:
                conn.execute(statement)
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise NotABusError(
                f"{path!r} holds a bus of schema version {version}; this eventflux knows "
                f"version {SCHEMA_VERSION}: upgrade eventflux"
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def prepare_file(path: str, busy_timeout: float) -> None:
    """Make sure ``path`` holds an eventflux bus: create the tables in a new or empty
    file, check (and upgrade) them in an existing one. Raises
    :class:`~eventflux.NotABusError`, writing nothing, for a file that is not a
    SQLite database or holds anything else; environment failures (missing
    folder, no permission, disk full, locked) are the bus's errors of
    :data:`ERRORS`.
    """
    if Path(path).is_dir():
        raise ConfigurationError(f"{path!r} is a folder; the sqlite:// URL must name a file")
    try:
        conn = connect(path, busy_timeout)
    except sqlite3.Error as e:
        raise translate_error(e, path, busy_timeout, ERRORS) from e
    try:
        found = _foreign(conn)  # reading first: a foreign file must stay untouched
        if found:
            raise _refuse(path, found)
        use_wal(conn, path, ERRORS, busy_timeout)
        if _version(conn) != SCHEMA_VERSION:  # a new file, or one to upgrade
            _create(conn, path)
    except sqlite3.Error as e:
        raise translate_error(e, path, busy_timeout, ERRORS) from e
    finally:
        conn.close()
