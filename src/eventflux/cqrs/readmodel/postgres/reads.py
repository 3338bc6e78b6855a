"""The read side of a PostgreSQL read model: queries and snapshots, async.

Queries run on one reader connection (a lost one is replaced and the query
run once more: reads are safe to repeat). Each open snapshot has a
connection of its own inside a REPEATABLE READ READ ONLY transaction; a few
idle ones are kept for the next snapshots. A snapshot and a rebuild's swap
exclude each other through an advisory lock (shared for snapshots, exclusive
for the swap): PostgreSQL takes a transaction's snapshot at its first query,
and one taken before a swap commits would see the moved tables without the
swap's own writes. So a snapshot begins before a swap or after it.

Example::

    readers = Readers(place)
    rows = await readers.run(lambda conn: fetch_all(conn, "SELECT * FROM t", None))
    async with readers.snapshot() as db:
        total = await db.fetch_value("SELECT count(*) FROM t")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final, TypeVar

import psycopg
from psycopg import sql

from .place import SCHEMA_LOCK, SWAP_LOCK, PgPlace
from .transaction import AsyncConn, PostgresSnapshot

__all__ = ["Readers"]

R = TypeVar("R")
_SHARE_SWAP: Final = "SELECT pg_advisory_lock_shared(%s, hashtext(%s))"
_UNSHARE_SWAP: Final = "SELECT pg_advisory_unlock_shared(%s, hashtext(%s))"
_BEGIN_SNAPSHOT: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_IDLE_SNAPSHOTS: Final = 4  # connections kept for the next snapshots


def _lost(conn: AsyncConn) -> bool:
    return conn.closed or conn.broken


class Readers:
    """The reader connections of one read model (at ``place``)."""

    def __init__(self, place: PgPlace) -> None:
        self.place = place
        self._reader: AsyncConn | None = None
        self._idle: list[AsyncConn] = []  # snapshot connections, for the next snapshots
        self._lent: set[AsyncConn] = set()  # snapshot connections in use
        self._connecting = asyncio.Lock()

    async def connect(self) -> AsyncConn:
        """A new autocommit connection whose ``search_path`` is the schema (its
        statements are never prepared: a swap may change the tables they read)."""
        place = self.place
        try:
            conn = await psycopg.AsyncConnection.connect(
                place.conninfo,
                autocommit=True,
                prepare_threshold=None,
                connect_timeout=place.libpq_timeout,
            )
        except psycopg.Error as e:
            raise place.cannot_connect(e) from e
        return await self._set_up(conn, lambda c: c.execute(place.statements.search_path))

    async def _set_up(
        self, conn: AsyncConn, step: Callable[[AsyncConn], Awaitable[object]]
    ) -> AsyncConn:
        """``await step(conn)``; on failure close the new connection, and turn a
        driver error into StoreUnavailableError."""
        try:
            await step(conn)
        except BaseException as e:
            await conn.close()
            if isinstance(e, psycopg.Error):
                raise self.place.unavailable(e) from e
            raise
        return conn

    async def _reader_conn(self) -> AsyncConn:
        conn = self._reader
        if conn is None:
            async with self._connecting:
                conn = self._reader
                if conn is None:
                    conn = self._reader = await self.connect()
        return conn

    async def _forget(self, conn: AsyncConn) -> None:
        if self._reader is conn:
            self._reader = None
        await conn.close()

    async def run(self, op: Callable[[AsyncConn], Awaitable[R]]) -> R:
        """Run a query on the reader connection; a lost connection is replaced
        and the query run once more."""
        conn = await self._reader_conn()
        try:
            return await op(conn)
        except psycopg.OperationalError:
            if not _lost(conn):
                raise
            await self._forget(conn)
        conn = await self._reader_conn()
        try:
            return await op(conn)
        except psycopg.OperationalError as e:
            if not _lost(conn):
                raise
            await self._forget(conn)
            raise self.place.unavailable(e) from e

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresSnapshot]:
        """Reads of one committed state, on a connection of its own."""
        conn = await self._snapshot_conn()
        self._lent.add(conn)
        try:
            yield PostgresSnapshot(conn)
        finally:
            self._lent.discard(conn)
            await self._give_back(conn)

    async def _begin_snapshot(self, conn: AsyncConn) -> None:
        # Two round trips: statements sent together would run in one implicit
        # transaction, whose snapshot would predate the wait for the lock.
        await conn.execute(_SHARE_SWAP, (SWAP_LOCK, self.place.schema))
        await conn.execute(_BEGIN_SNAPSHOT)

    async def _snapshot_conn(self) -> AsyncConn:
        """A connection inside a new REPEATABLE READ READ ONLY transaction,
        holding the shared swap lock."""
        while self._idle:
            conn = self._idle.pop()
            try:
                await self._begin_snapshot(conn)
                return conn
            except BaseException as e:
                await conn.close()  # an idle connection that went stale
                if not isinstance(e, psycopg.Error):
                    raise
        return await self._set_up(await self.connect(), self._begin_snapshot)

    async def _give_back(self, conn: AsyncConn) -> None:
        try:
            if not _lost(conn):
                async with conn.pipeline():
                    await conn.execute("ROLLBACK")  # read only: nothing to commit
                    await conn.execute(_UNSHARE_SWAP, (SWAP_LOCK, self.place.schema))
                if len(self._idle) < _IDLE_SNAPSHOTS:
                    self._idle.append(conn)
                    return
        except BaseException as e:
            await conn.close()
            if not isinstance(e, psycopg.Error):
                raise
            return
        await conn.close()

    async def drop_schema(self) -> None:
        """Drop the schema and everything in it (a rebuild's scratch schema), one
        process at a time (the lock that guards its creation)."""
        conn = await self.connect()
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (SCHEMA_LOCK, self.place.schema),
                )
                await conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(self.place.schema)
                    )
                )
        except psycopg.Error as e:
            raise self.place.unavailable(e) from e
        finally:
            await conn.close()

    async def close(self) -> None:
        """Close every reader and snapshot connection."""
        conns = [c for c in (self._reader,) if c is not None]
        conns += self._idle + list(self._lent)
        self._reader = None
        self._idle, self._lent = [], set()
        for conn in conns:
            await conn.close()
