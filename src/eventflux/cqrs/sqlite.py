"""A read model in its own SQLite file.

Projections write through a :class:`SQLiteTransaction`; each unit of work is
one ``BEGIN IMMEDIATE ... COMMIT`` that also holds the projection's row in
the ``eventflux_checkpoints`` table. Queries read through a separate
connection and always see a committed state (the file is in WAL mode, so
readers never wait for the projection and it never waits for them).

Example::

    catalog = SQLiteReadModel("shop-read.db")
    rows = catalog.fetch_all("SELECT * FROM products WHERE stock < ?", (5,))

Batches of synchronous handlers run on the read model's own writer thread
(one thread hop per batch, the event loop stays free); ``async`` handlers run
on the event loop. By default the file is written with ``synchronous=NORMAL``:
a power cut may lose the last commits, but a checkpoint and its writes are
lost together, so the projection redoes exactly those (``durability="full"``
syncs every commit). Waiting for another process's write lock never blocks
the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

from .._internal.urls import sqlite_path
from ..exceptions import ConfigurationError, StoreBusyError, StoreUnavailableError
from ._sqlite_tx import (
    CHECKPOINTS_DDL,
    Reads,
    Snapshot,
    SQLiteTransaction,
    copy_objects,
)
from .readmodel import CHECKPOINTS_TABLE, ReadModel, UnitOfWork

__all__ = ["SQLiteReadModel", "SQLiteTransaction"]

R = TypeVar("R")
DEFAULT_BUSY_TIMEOUT: Final = 30.0
_SAVE_CHECKPOINT: Final = (
    f"INSERT INTO main.{CHECKPOINTS_TABLE} (name, position, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
    "updated_at = excluded.updated_at"
)


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class SQLiteReadModel(ReadModel[SQLiteTransaction], Reads):
    """A read model in the SQLite file at ``path`` (created if missing).

    ``busy_timeout`` bounds the wait for another process's write lock
    (:class:`~eventflux.StoreBusyError` after it). ``durability="full"``
    syncs every commit to disk (``normal``, the default, may lose the last
    commits on a power cut; they are then redone from the event store).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        durability: str = "normal",
        _fresh: bool = False,
    ) -> None:
        if durability not in ("normal", "full"):
            raise ConfigurationError(f"durability must be 'normal' or 'full', not {durability!r}")
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.durability = durability
        self._fresh = _fresh
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteReadModel:
        """Open the read model named by a ``sqlite:///path.db`` URL."""
        return cls(sqlite_path(url), **options)

    def __repr__(self) -> str:
        return f"SQLiteReadModel({self.path!r})"

    # -- connections --------------------------------------------------------------
    def _unavailable(self, error: sqlite3.Error) -> StoreUnavailableError:
        return StoreUnavailableError(f"the read model {self.path} failed: {error}")

    def _writer_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
            except sqlite3.Error as e:
                raise self._unavailable(e) from e
            try:
                if self._fresh:  # a rebuild's scratch file: speed over durability
                    conn.execute("PRAGMA journal_mode=MEMORY")
                    conn.execute("PRAGMA synchronous=OFF")
                else:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(f"PRAGMA synchronous={self.durability.upper()}")
                conn.execute(CHECKPOINTS_DDL)
                conn.execute("PRAGMA busy_timeout=0")  # later lock waits: see _begin
            except sqlite3.Error as e:
                conn.close()
                raise self._unavailable(e) from e
            self._writer = conn
        return self._writer

    def _connection(self) -> sqlite3.Connection:
        if self._reader is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only=ON")
            self._reader = conn
        return self._reader

    def _busy(self, error: sqlite3.Error) -> StoreBusyError:
        return StoreBusyError(
            f"the read model {self.path} stayed locked by another writer for {self.busy_timeout} s"
        )

    def _try_begin(self, conn: sqlite3.Connection, deadline: float) -> bool:
        """One BEGIN IMMEDIATE attempt: False while another writer holds the lock,
        a typed error on any other failure or once ``deadline`` has passed."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if not _locked(e):
                raise self._unavailable(e) from e
            if time.monotonic() >= deadline:
                raise self._busy(e) from e
            return False
        return True

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting for another writer without blocking the loop."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while not self._try_begin(conn, deadline):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _begin_blocking(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE on the writer thread (waiting blocks only that thread)."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.001
        while not self._try_begin(conn, deadline):
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- reading ------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[Reads]:
        """Read several queries from one committed state::

        with catalog.snapshot() as db:
            page = db.fetch_all("SELECT * FROM products LIMIT 10")
            total = db.fetch_value("SELECT count(*) FROM products")
        """
        conn = self._connection()
        conn.execute("BEGIN")
        try:
            yield Snapshot(conn)
        finally:
            conn.execute("COMMIT")

    def _never_built(self) -> bool:
        """True if the file does not exist (so looking must not create it)."""
        return self._reader is None and self._writer is None and not Path(self.path).exists()

    async def checkpoint(self, name: str) -> int:
        return self.checkpoints().get(name, 0)

    def checkpoints(self) -> dict[str, int]:
        """Every projection's committed checkpoint in this file."""
        if self._never_built():
            return {}
        try:
            rows = self.fetch_all(f"SELECT name, position FROM {CHECKPOINTS_TABLE}")
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return {}
            raise
        return {r["name"]: r["position"] for r in rows}

    # -- writing ------------------------------------------------------------------
    def _open(
        self, conn: sqlite3.Connection, name: str, start: int | None
    ) -> UnitOfWork[SQLiteTransaction]:
        """The unit of work, inside a transaction that has begun."""
        try:
            if start is not None:
                return UnitOfWork(SQLiteTransaction(conn), start)
            row = conn.execute(
                f"SELECT position FROM main.{CHECKPOINTS_TABLE} WHERE name = ?", (name,)
            ).fetchone()
        except sqlite3.Error as e:
            raise self._unavailable(e) from e
        return UnitOfWork(SQLiteTransaction(conn), 0 if row is None else row[0], row is None)

    def _save_checkpoint(self, conn: sqlite3.Connection, name: str, position: int) -> None:
        try:
            conn.execute(_SAVE_CHECKPOINT, (name, position, time.time()))
        except sqlite3.Error as e:
            raise self._unavailable(e) from e

    def _commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise self._unavailable(e) from e

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    @asynccontextmanager
    async def _transaction(
        self, conn: sqlite3.Connection, name: str, start: int | None
    ) -> AsyncIterator[UnitOfWork[SQLiteTransaction]]:
        """BEGIN IMMEDIATE (lock held by the caller), yield, write checkpoint, COMMIT."""
        await self._begin(conn)
        try:
            uow = self._open(conn, name, start)
            yield uow
            self._save_checkpoint(conn, name, uow.checkpoint)
            if self.durability == "full":  # the fsync runs off the event loop
                await self._in_thread(self._commit, conn)
            else:
                self._commit(conn)
        except BaseException:
            self._rollback(conn)
            raise

    @asynccontextmanager
    async def unit_of_work(self, name: str) -> AsyncIterator[UnitOfWork[SQLiteTransaction]]:
        async with self._lock, self._transaction(self._writer_conn(), name, None) as uow:
            yield uow

    async def run_unit_of_work(
        self, name: str, work: Callable[[UnitOfWork[SQLiteTransaction]], R]
    ) -> R:
        """Run ``work(uow)`` in one transaction on the writer thread."""
        async with self._lock:
            return await self._in_thread(self._run_blocking, self._writer_conn(), name, work)

    def _run_blocking(
        self,
        conn: sqlite3.Connection,
        name: str,
        work: Callable[[UnitOfWork[SQLiteTransaction]], R],
    ) -> R:
        self._begin_blocking(conn)
        try:
            uow = self._open(conn, name, None)
            result = work(uow)
            self._save_checkpoint(conn, name, uow.checkpoint)
            self._commit(conn)
            return result
        except BaseException:
            self._rollback(conn)
            raise

    async def _in_thread(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn`` on the writer thread; a cancellation waits for it to finish
        (nobody else may touch the connection meanwhile), then propagates."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="eventflux-read-model")
        done: Future[R] = self._thread.submit(fn, *args)
        waiting = asyncio.wrap_future(done)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            await asyncio.wait({waiting})
            if not waiting.cancelled():
                waiting.exception()  # retrieved: the cancellation is what propagates
            raise

    async def create_fresh(self, name: str) -> SQLiteReadModel:
        """A scratch file ``<path>.<name>.rebuild`` (a leftover of a crashed
        rebuild is removed first; run one rebuild of a projection at a time)."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        fresh = SQLiteReadModel(
            f"{self.path}.{safe}.rebuild", busy_timeout=self.busy_timeout, _fresh=True
        )
        fresh._delete_files()
        return fresh

    @asynccontextmanager
    async def swap_in(
        self, fresh: ReadModel[SQLiteTransaction], name: str
    ) -> AsyncIterator[UnitOfWork[SQLiteTransaction]]:
        if not isinstance(fresh, SQLiteReadModel):
            raise TypeError("a SQLite read model swaps in another SQLiteReadModel")
        start = await fresh.checkpoint(name)
        fresh._close()
        async with self._lock:
            conn = self._writer_conn()
            conn.execute("ATTACH DATABASE ? AS fresh", (fresh.path,))
            try:
                async with self._transaction(conn, name, start) as uow:
                    copy_objects(conn)
                    yield uow
            finally:
                conn.execute("DETACH DATABASE fresh")

    def _close(self) -> None:
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = self._reader = None

    def _delete_files(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(self.path + suffix).unlink(missing_ok=True)

    async def discard(self) -> None:
        self._close()
        self._delete_files()

    async def close(self) -> None:
        self._close()
