"""A read model in a PostgreSQL schema.

Each unit of work is one transaction on the writer connection that starts by
locking the projection's row in the schema's ``eventflux_checkpoints`` table
(``SELECT ... FOR UPDATE``) and ends by writing the new checkpoint and
committing, with the handlers' writes. The row lock serializes the runners of
one projection, in every process on every machine; each run skips the events
at or below the checkpoint it finds, so every event changes the read model
exactly once. PostgreSQL commits are durable: a crash loses a batch and its
checkpoint together, and the batch is redone.

URL: ``postgresql://user@host/db`` (or ``postgres://``); options ``schema``
(default ``public``, created on first write), ``connect_timeout`` and
``lock_timeout`` (seconds); the other options go to libpq (``sslmode``...).
Tables are named unqualified: every connection's ``search_path`` is the
model's schema.

Example::

    model = open_read_model("postgresql://app@db/shop?schema=read")

The writer connection is synchronous: a batch of plain handlers runs on the
read model's writer thread; ``async def`` handlers run on the event loop and
their statements hold it while they run. Queries and snapshots are async, on
connections of their own (see :mod:`.reads`). Rebuilds replay into a scratch
schema ``<schema>_rebuild_<name>``; the swap moves the rebuilt tables into the
live schema in one transaction (see :mod:`.swap`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import SplitResult, urlencode, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from ...._internal.urls import float_option
from ....exceptions import ConfigurationError
from ..backend import Params, ReadModelBackend, ReadSnapshot, Row, UnitOfWork
from .place import PgPlace
from .reads import Readers
from .swap import begin_swap, refuse_unmovable, scratch_schema
from .transaction import (
    AsyncConn,
    PostgresTransaction,
    SyncConn,
    fetch_all,
    fetch_one,
    fetch_value,
)
from .writer import connect_writer, idle, lock_checkpoint, roll_back, save_checkpoint

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_LOCK_TIMEOUT", "PostgresReadModelBackend"]

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_LOCK_TIMEOUT: Final = 30.0
_SETTINGS: Final = ("schema", "connect_timeout", "lock_timeout")
_NO_TABLE = (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)


class PostgresReadModelBackend(ReadModelBackend):
    """The read model in the PostgreSQL ``schema`` of the database that
    ``dsn_or_url`` names (a ``postgresql://`` URL without options, or a libpq
    ``key=value`` string).

    ``connect_timeout`` bounds each connection attempt (libpq counts whole
    seconds, at least 2); :class:`~eventflux.StoreUnavailableError` names the
    server it could not reach. ``lock_timeout`` bounds the wait for the
    projection's checkpoint held by another runner, and a swap's wait for
    readers to let go of the tables it replaces
    (:class:`~eventflux.StoreBusyError` after it).
    """

    def __init__(
        self,
        dsn_or_url: str,
        *,
        schema: str = "public",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        scratch: bool = False,
    ) -> None:
        self.place = PgPlace.of(
            dsn_or_url,
            schema,
            connect_timeout=connect_timeout,
            lock_timeout=lock_timeout,
            scratch=scratch,
        )
        self._writer: SyncConn | None = None
        self._readers = Readers(self.place)

    @classmethod
    def from_url(
        cls, url: SplitResult, options: dict[str, str], **settings: Any
    ) -> PostgresReadModelBackend:
        """``postgresql://user@host/db?schema=read&connect_timeout=5&sslmode=require``."""
        unknown = sorted(set(settings) - set(_SETTINGS))
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s) for a PostgreSQL read model: {', '.join(unknown)} "
                f"(known: {', '.join(_SETTINGS)})"
            )
        if "schema" in options:
            settings["schema"] = options.pop("schema")
        for name, default in (
            ("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            ("lock_timeout", DEFAULT_LOCK_TIMEOUT),
        ):
            if name in options:
                settings[name] = float_option(options, name, default)
        conninfo = urlunsplit(("postgresql", url.netloc, url.path, urlencode(options), ""))
        return cls(conninfo, **settings)

    @property
    def schema(self) -> str:
        """The schema holding the read model's tables."""
        return self.place.schema

    @property
    def url(self) -> str:
        return self.place.url

    def __repr__(self) -> str:
        return f"PostgresReadModelBackend({self.place.where!r}, schema={self.schema!r})"

    # -- writing (the writer thread) -----------------------------------------------------
    def _writer_conn(self) -> SyncConn:
        """The writer connection, idle; a lost one, or one left inside a
        transaction, is replaced."""
        conn = self._writer
        if conn is not None and not idle(conn):
            self._writer = None
            conn.close()
            conn = None
        if conn is None:
            conn = self._writer = connect_writer(self.place)
        return conn

    def begin(self, name: str) -> UnitOfWork:
        conn = self._writer_conn()
        checkpoint, is_new, store_id = lock_checkpoint(conn, self.place, name)
        return UnitOfWork(PostgresTransaction(conn), checkpoint, is_new, store_id=store_id)

    def begin_swap(self, fresh: ReadModelBackend, name: str, checkpoint: int) -> UnitOfWork:
        if not isinstance(fresh, PostgresReadModelBackend):
            raise TypeError(
                f"a PostgreSQL read model swaps in another PostgreSQL read model, not {fresh!r}"
            )
        conn = self._writer_conn()
        try:
            refuse_unmovable(conn, fresh.schema, name)
        except psycopg.Error as e:
            raise self.place.unavailable(e) from e
        begin_swap(conn, self.place, name, fresh.schema)
        return UnitOfWork(PostgresTransaction(conn), checkpoint)

    def commit(self, uow: UnitOfWork, name: str) -> None:
        save_checkpoint(self._live_writer(), self.place, name, uow.checkpoint, uow.store_id)

    def _live_writer(self) -> SyncConn:
        if self._writer is None:
            raise self.place.unavailable(RuntimeError("no transaction is open"))
        return self._writer

    def rollback(self) -> None:
        conn = self._writer
        if conn is not None and not roll_back(conn):
            self._writer = None
            conn.close()

    def interrupt(self) -> None:
        """Cancel the statement running on the writer connection, on the server."""
        conn = self._writer
        if conn is None or conn.closed:
            return
        if conn.info.transaction_status != TransactionStatus.ACTIVE:
            return  # between statements: the projection stops at the next event
        try:
            conn.cancel_safe(timeout=self.place.connect_timeout)
        except psycopg.Error:
            pass  # the statement then runs to its end

    # -- rebuilding -------------------------------------------------------------------
    async def create_fresh(self, name: str) -> PostgresReadModelBackend:
        """A scratch schema ``<schema>_rebuild_<name>`` in the same database (a
        leftover of a crashed rebuild is dropped first; run one rebuild of a
        projection at a time)."""
        place = self.place
        fresh = PostgresReadModelBackend(
            place.conninfo,
            schema=scratch_schema(place.schema, name),
            connect_timeout=place.connect_timeout,
            lock_timeout=place.lock_timeout,
            scratch=True,
        )
        await fresh._readers.drop_schema()
        return fresh

    async def discard(self) -> None:
        """Close the model and drop its scratch schema (a model made by
        :meth:`create_fresh`; a live schema is never dropped)."""
        if not self.place.scratch:
            raise ConfigurationError(
                f"discard() drops a rebuild's scratch schema; {self.schema!r} is a live one"
            )
        await self.close()
        await self._readers.drop_schema()

    # -- reading (the event loop) -------------------------------------------------------
    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return await self._readers.run(lambda conn: fetch_all(conn, sql, params))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return await self._readers.run(lambda conn: fetch_one(conn, sql, params))

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        return await self._readers.run(lambda conn: fetch_value(conn, sql, params))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[ReadSnapshot]:
        """Reads of one committed state (REPEATABLE READ READ ONLY), on a
        connection of its own; a swap lands entirely before it or after it."""
        async with self._readers.snapshot() as db:
            yield db

    async def checkpoints(self) -> dict[str, int]:
        async def read(conn: AsyncConn) -> list[tuple[Any, ...]]:
            cur = await conn.execute(self.place.statements.read_all)
            return await cur.fetchall()

        try:
            rows = await self._readers.run(read)
        except _NO_TABLE:
            return {}
        return {name: int(position) for name, position in rows}

    async def store_ids(self) -> dict[str, str]:
        async def read(conn: AsyncConn) -> list[tuple[Any, ...]]:
            cur = await conn.execute(self.place.statements.read_stores)
            return await cur.fetchall()

        try:
            rows = await self._readers.run(read)
        except (*_NO_TABLE, pg_errors.UndefinedColumn):
            return {}
        return {name: str(store_id) for name, store_id in rows}

    async def exists(self) -> bool:
        """Whether the schema holds the checkpoints table (never creates it)."""

        async def read(conn: AsyncConn) -> bool:
            cur = await conn.execute(self.place.statements.exists)
            row = await cur.fetchone()
            return bool(row and row[0])

        return await self._readers.run(read)

    async def close(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            conn.close()
        await self._readers.close()
