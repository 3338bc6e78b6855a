"""SQLite, set up once for every part of eventflux that keeps a SQLite file
(the event store, the bus, the read model): connections and driver-error
translation. The group-commit writer of a database file is in
:mod:`eventflux._internal.sqlite_writer`.

- :func:`connect`: a connection in autocommit mode (transactions are
  explicit), usable from any thread; :func:`use_wal` switches its file to
  write-ahead logging; :func:`data_version` reads the file's change counter
  (it moves when another connection commits); :func:`application_id` reads
  which program's file it is.
- :func:`classify` names what went wrong (:class:`ErrorKind`: busy or
  locked, not a database, cannot open, unusable: disk full, I/O error,
  corrupt, read-only...); :func:`translate_error` turns it into the caller's
  eventflux error, chosen from a :class:`SQLiteErrors` family (one per port),
  with a message that says what to do.

Example::

    conn = connect("events.db", busy_timeout=5.0)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as e:
        raise translate_error(e, "events.db", 5.0, ERRORS) from e
"""

from __future__ import annotations

import enum
import sqlite3
import time
from dataclasses import dataclass

from ..exceptions import EventfluxError, InvalidArgumentError

__all__ = [
    "ErrorKind",
    "SQLiteErrors",
    "application_id",
    "classify",
    "connect",
    "data_version",
    "switch_to_wal",
    "translate_error",
    "use_wal",
]


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit), usable
    from any thread (its users take turns)."""
    return sqlite3.connect(
        path,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
    )


def application_id(conn: sqlite3.Connection) -> int:
    """The file's ``PRAGMA application_id``: which program's file it is (0: not said)."""
    return int(conn.execute("PRAGMA application_id").fetchall()[0][0])


def data_version(conn: sqlite3.Connection) -> int:
    """The file's change counter as ``conn`` sees it: it moves when another
    connection commits."""
    return int(conn.execute("PRAGMA data_version").fetchall()[0][0])


class ErrorKind(enum.Enum):
    """What a SQLite error means for the caller."""

    BUSY = "busy"  # another connection held the lock past the busy timeout
    NOT_A_DATABASE = "not a database"  # the file is something else
    CANNOT_OPEN = "cannot open"  # missing folder, no permission
    FULL = "full"  # the disk (or the database's size limit) is full
    UNUSABLE = "unusable"  # I/O error, corrupt, read-only
    TOO_BIG = "too big"  # a value over SQLite's size limits: bad input
    OTHER = "other"


def classify(e: sqlite3.Error) -> ErrorKind:
    """The kind of a sqlite3 error (by its SQLite error name, else its text)."""
    name = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return ErrorKind.BUSY
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return ErrorKind.NOT_A_DATABASE
    if name.startswith("SQLITE_CANTOPEN"):
        return ErrorKind.CANNOT_OPEN
    if name == "SQLITE_FULL" or "disk is full" in text:
        return ErrorKind.FULL
    if name.startswith(("SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CORRUPT", "SQLITE_PERM")):
        return ErrorKind.UNUSABLE
    if name == "SQLITE_TOOBIG" or "too big" in text:
        return ErrorKind.TOO_BIG
    return ErrorKind.OTHER


@dataclass(frozen=True)
class SQLiteErrors:
    """The eventflux errors one port raises for SQLite trouble, and the noun its
    messages use (``"event store"``, ``"bus"``, ``"read model"``)."""

    noun: str
    busy: type[EventfluxError]  # the lock was not obtained within the busy timeout
    unavailable: type[EventfluxError]  # cannot open, disk full, I/O error, corrupt...
    not_a_database: type[EventfluxError]  # the file is not this port's database
    other: type[EventfluxError]  # anything else
    closed: type[EventfluxError]  # an operation after close


def translate_error(
    e: sqlite3.Error | OverflowError, path: str, busy_timeout: float, errors: SQLiteErrors
) -> EventfluxError:
    """The eventflux error for a sqlite3 error, or for the ``OverflowError`` the
    driver raises for an int beyond 64 bits (raise it ``from e``)."""
    noun, text = errors.noun, str(e)
    if isinstance(e, OverflowError):
        return InvalidArgumentError(
            f"a value given to the {noun} {path!r} does not fit SQLite's 64-bit integers "
            f"({text}); integers must be from -2**63 to 2**63 - 1"
        )
    kind = classify(e)
    if kind is ErrorKind.BUSY:
        return errors.busy(
            f"the {noun} {path!r} stayed locked for more than the busy timeout "
            f"({busy_timeout:g} s): another connection or process holds its write lock. "
            "Retry later, or raise the URL option busy_timeout"
        )
    if kind is ErrorKind.NOT_A_DATABASE:
        return errors.not_a_database(
            f"{path!r} is not a SQLite database, so not an eventflux {noun}; "
            f"point the URL at a new file or at an existing {noun}"
        )
    if kind is ErrorKind.CANNOT_OPEN:
        return errors.unavailable(
            f"cannot open the {noun} file {path!r} ({text}); check that its folder "
            "exists and that this process may write there"
        )
    if kind is ErrorKind.FULL:
        return errors.unavailable(
            f"the disk holding the {noun} {path!r} is full (SQLite: {text}); nothing of "
            "this write was stored. Free some space and retry"
        )
    if kind is ErrorKind.UNUSABLE:
        return errors.unavailable(f"the {noun} {path!r} cannot be used: {text}")
    if kind is ErrorKind.TOO_BIG:
        return InvalidArgumentError(
            f"a value is larger than SQLite stores in the {noun} {path!r} ({text}); "
            "nothing was written"
        )
    return errors.other(f"SQLite error on the {noun} {path!r}: {text}")


def switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> str:
    """Run ``PRAGMA journal_mode = WAL`` and return the journal mode SQLite
    answers with (``"wal"`` unless the file system cannot share memory).

    SQLite answers "database is locked" at once, without calling the busy
    handler, when two connections switch a new file at the same moment (each
    holds the shared lock the other needs to give up), so the switch is retried
    here, with short growing pauses, until ``busy_timeout`` seconds have passed;
    then the last sqlite3 error propagates for the caller to translate.
    """
    deadline = time.monotonic() + busy_timeout
    pause = 0.001
    while True:
        try:
            rows = conn.execute("PRAGMA journal_mode = WAL").fetchall()
        except sqlite3.OperationalError as e:
            if classify(e) is not ErrorKind.BUSY or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        else:
            return str(rows[0][0]).lower() if rows else ""


def use_wal(conn: sqlite3.Connection, path: str, errors: SQLiteErrors, busy_timeout: float) -> None:
    """Switch the file to write-ahead logging (readers never wait for the writer;
    :func:`switch_to_wal`), or raise the port's unavailable error (WAL needs a
    local file system)."""
    mode = switch_to_wal(conn, busy_timeout)
    if mode != "wal":
        raise errors.unavailable(
            f"cannot switch {path!r} to write-ahead logging (journal mode is {mode!r}); "
            f"the {errors.noun} needs a local file system"
        )
