"""A read model in its own SQLite file.

Each unit of work is one ``BEGIN IMMEDIATE ... COMMIT`` on the writer
connection that also holds the projection's row in the
``eventflux_checkpoints`` table: the file's write lock makes the runners of a
projection take turns, in this process and others. Queries and snapshots read
through connections of their own and always see a committed state (the file
is in WAL mode, so readers never wait for the projection, nor it for them).

URL: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``; options
``durability`` (``normal``, the default: a power cut may lose the last
commits, checkpoint and writes together, and the projection redoes them; or
``full``: every commit synced) and ``busy_timeout`` (seconds to wait for
another process's write lock, default 30).

Example::

    model = open_read_model("sqlite:///shop-read.db?durability=full")

A rebuild writes a scratch file next to the live one
(``read.db.<projection>.rebuild``); the swap ATTACHes it and, in one
``BEGIN IMMEDIATE`` transaction, replaces the projection's tables by the
rebuilt ones (see :mod:`.swap`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import SplitResult, quote

from ...._internal.urls import choice_option, float_option, reject_unknown_options, sqlite_path
from ....exceptions import ConfigurationError
from ..backend import (
    CHECKPOINTS_TABLE,
    Params,
    ReadModelBackend,
    ReadSnapshot,
    Row,
    UnitOfWork,
)
from .connection import (
    DURABILITIES,
    SQLiteFile,
    begin_immediate,
    open_reader,
    open_writer,
    try_begin_immediate,
)
from .swap import copy_objects
from .transaction import SQLiteSnapshot, SQLiteTransaction, bind, first_row, first_value, rows_of

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SQLiteReadModelBackend"]

DEFAULT_BUSY_TIMEOUT: Final = 30.0
_SETTINGS: Final = ("busy_timeout", "durability")
_READ_CHECKPOINT: Final = f"SELECT position, store_id FROM main.{CHECKPOINTS_TABLE} WHERE name = ?"
_SAVE_CHECKPOINT: Final = (
    f"INSERT INTO main.{CHECKPOINTS_TABLE} (name, position, updated_at, store_id) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
    "updated_at = excluded.updated_at, store_id = excluded.store_id"
)
_IDLE_SNAPSHOTS: Final = 4  # reader connections kept for the next snapshots


class SQLiteReadModelBackend(ReadModelBackend):
    """The read model in the SQLite file at ``path`` (created on first use).

    ``busy_timeout`` bounds the wait for another process's write lock
    (:class:`~eventflux.StoreBusyError` after it); ``durability`` is
    ``"normal"`` or ``"full"``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        durability: str = "normal",
        scratch: bool = False,
    ) -> None:
        if durability not in DURABILITIES:
            raise ConfigurationError(f"durability must be 'normal' or 'full', not {durability!r}")
        if not busy_timeout > 0:
            raise ConfigurationError(f"busy_timeout must be positive, not {busy_timeout!r}")
        self.file = SQLiteFile(str(path), busy_timeout, durability, scratch)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._idle: list[sqlite3.Connection] = []  # snapshot connections, for the next ones
        self._lent: set[sqlite3.Connection] = set()  # snapshot connections in use
        self._attached = False  # a swap's scratch file is ATTACHed to the writer

    @classmethod
    def from_url(
        cls, url: SplitResult, options: dict[str, str], **settings: Any
    ) -> SQLiteReadModelBackend:
        """``sqlite:///path.db?durability=full&busy_timeout=5``."""
        path = sqlite_path(url)
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s) for a SQLite read model: {', '.join(unknown)} "
                f"(known: {', '.join(_SETTINGS)})"
            )
        if "busy_timeout" in options:
            settings["busy_timeout"] = float_option(options, "busy_timeout", DEFAULT_BUSY_TIMEOUT)
        if "durability" in options:
            settings["durability"] = choice_option(options, "durability", "normal", DURABILITIES)
        reject_unknown_options(options, "sqlite")
        return cls(path, **settings)

    @property
    def path(self) -> str:
        """The database file."""
        return self.file.path

    @property
    def url(self) -> str:
        return "sqlite:///" + quote(self.file.path)

    def __repr__(self) -> str:
        return f"SQLiteReadModelBackend({self.file.path!r})"

    # -- writing (the writer thread) -----------------------------------------------------
    def _writer_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = open_writer(self.file)
        return self._writer

    def begin(self, name: str) -> UnitOfWork:
        conn = self._writer_conn()
        begin_immediate(conn, self.file)
        return self._unit_of_work(conn, name)

    def begin_at_once(self, name: str) -> UnitOfWork | None:
        """``BEGIN IMMEDIATE`` here if the file's write lock is free (else None)."""
        conn = self._writer_conn()
        if not try_begin_immediate(conn, self.file):
            return None
        return self._unit_of_work(conn, name)

    def _unit_of_work(self, conn: sqlite3.Connection, name: str) -> UnitOfWork:
        """The unit of work, inside a transaction that has begun."""
        try:
            row = conn.execute(_READ_CHECKPOINT, (name,)).fetchone()
        except sqlite3.Error as e:
            raise self.file.unavailable(e) from e
        if row is None:
            return UnitOfWork(SQLiteTransaction(conn), 0, True)
        return UnitOfWork(SQLiteTransaction(conn), row[0], False, store_id=row[1])

    @property
    def commits_at_once(self) -> bool:
        """True unless every commit is synced to disk (``durability=full``)."""
        return self.file.durability != "full" or self.file.scratch

    def begin_swap(self, fresh: ReadModelBackend, name: str, checkpoint: int) -> UnitOfWork:
        if not isinstance(fresh, SQLiteReadModelBackend):
            raise TypeError(
                f"a SQLite read model swaps in another SQLite read model, not {fresh!r}"
            )
        conn = self._writer_conn()
        try:
            conn.execute("ATTACH DATABASE ? AS fresh", (fresh.file.path,))
        except sqlite3.Error as e:
            raise self.file.unavailable(e) from e
        self._attached = True
        begin_immediate(conn, self.file)
        copy_objects(conn)
        return UnitOfWork(SQLiteTransaction(conn), checkpoint)

    def commit(self, uow: UnitOfWork, name: str) -> None:
        conn = self._writer_conn()
        try:
            conn.execute(_SAVE_CHECKPOINT, (name, uow.checkpoint, time.time(), uow.store_id))
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise self.file.unavailable(e) from e
        self._detach(conn)

    def rollback(self) -> None:
        conn = self._writer
        if conn is None:
            return
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            self._drop_writer()  # the next unit of work opens a new connection
            return
        self._detach(conn)

    def interrupt(self) -> None:
        """Nothing: SQLite statements of a projection are short, and the
        projection stops between two events."""

    def _detach(self, conn: sqlite3.Connection) -> None:
        if self._attached:
            self._attached = False
            try:
                conn.execute("DETACH DATABASE fresh")
            except sqlite3.Error:
                self._drop_writer()

    def _drop_writer(self) -> None:
        conn, self._writer = self._writer, None
        self._attached = False
        if conn is not None:
            conn.close()

    # -- rebuilding -------------------------------------------------------------------
    async def create_fresh(self, name: str) -> SQLiteReadModelBackend:
        """A scratch file ``<path>.<name>.rebuild`` (a leftover of a crashed
        rebuild is removed first; run one rebuild of a projection at a time)."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        fresh = SQLiteReadModelBackend(
            f"{self.file.path}.{safe}.rebuild", busy_timeout=self.file.busy_timeout, scratch=True
        )
        fresh._delete_files()
        return fresh

    def _delete_files(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(self.file.path + suffix).unlink(missing_ok=True)

    async def discard(self) -> None:
        if not self.file.scratch:
            raise ConfigurationError(
                f"discard() deletes a rebuild's scratch file; {self.file.path!r} is a live one"
            )
        await self.close()
        self._delete_files()

    # -- reading (the event loop) -------------------------------------------------------
    def _reader_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = open_reader(self.file)
        return self._reader

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return rows_of(self._reader_conn().execute(sql, bind(params)))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return first_row(self._reader_conn().execute(sql, bind(params)))

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        return first_value(self._reader_conn().execute(sql, bind(params)))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[ReadSnapshot]:
        """Reads inside one read transaction, on a connection of its own."""
        conn = self._idle.pop() if self._idle else open_reader(self.file)
        self._lent.add(conn)
        try:
            conn.execute("BEGIN")
            yield SQLiteSnapshot(conn)
        finally:
            self._lent.discard(conn)
            if conn.in_transaction:
                conn.execute("COMMIT")
            if len(self._idle) < _IDLE_SNAPSHOTS:
                self._idle.append(conn)
            else:
                conn.close()

    def _never_built(self) -> bool:
        """True if the file does not exist (so looking must not create it)."""
        return self._reader is None and self._writer is None and not Path(self.file.path).exists()

    async def checkpoints(self) -> dict[str, int]:
        if self._never_built():
            return {}
        try:
            cursor = self._reader_conn().execute(f"SELECT name, position FROM {CHECKPOINTS_TABLE}")
            return dict(cursor.fetchall())
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return {}
            raise

    async def store_ids(self) -> dict[str, str]:
        if self._never_built():
            return {}
        try:
            cursor = self._reader_conn().execute(
                f"SELECT name, store_id FROM {CHECKPOINTS_TABLE} WHERE store_id IS NOT NULL"
            )
            return dict(cursor.fetchall())
        except sqlite3.OperationalError as e:
            if "no such table" in str(e) or "no such column" in str(e):
                return {}
            raise

    async def exists(self) -> bool:
        """Whether the file exists and holds the checkpoints table (looked at
        read-only: looking never creates it)."""
        return self._writer is not None or _holds_checkpoints(self.file.path)

    async def close(self) -> None:
        conns = [c for c in (self._writer, self._reader) if c is not None]
        conns += self._idle + list(self._lent)
        self._writer = self._reader = None
        self._idle, self._lent, self._attached = [], set(), False
        for conn in conns:
            conn.close()


def _holds_checkpoints(path: str) -> bool:
    """Whether the SQLite file at ``path`` exists and has the checkpoints table,
    opened read-only (a missing file is not created)."""
    file = Path(path)
    if not file.is_file():
        return False
    try:
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CHECKPOINTS_TABLE,)
        ).fetchall()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return bool(found)
