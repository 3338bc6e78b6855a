"""A read model in a PostgreSQL schema.

Projections write through a :class:`PostgresTransaction`; each unit of work is
one transaction that starts by locking the projection's row in the schema's
``eventflux_checkpoints`` table (``SELECT ... FOR UPDATE``) and ends by
writing the new checkpoint and committing, with the handlers' writes. The row
lock serializes the runners of one projection, in every process on every
machine; each run skips the events at or below the checkpoint it finds, so
every event changes the read model exactly once. PostgreSQL commits are
durable: a crash loses a batch and its checkpoint together, and the batch is
redone.

Example::

    catalog = PostgresReadModel.from_url("postgresql://app@db/shop?schema=read")
    rows = await catalog.fetch_all("SELECT * FROM products WHERE stock < %s", (5,))

The transaction's methods are coroutines, so projections on this model have
``async def`` handlers (and ``create_schema``); a projection with plain ones
is refused when it is constructed. Tables are named unqualified: every
connection's ``search_path`` is the model's schema. Queries read committed
data through a connection of their own; :meth:`PostgresReadModel.snapshot`
reads several queries from one state.

Rebuilds replay into a scratch schema ``<schema>_rebuild_<name>``; the swap
moves the rebuilt tables into the live schema with ``ALTER ... SET SCHEMA``
in one transaction (PostgreSQL DDL is transactional: readers wait for the
short lock, then see the new tables).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import urlencode, urlunsplit

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.pq import TransactionStatus

from .._internal.urls import float_option, parse_url
from ..exceptions import ConfigurationError, StoreBusyError, StoreUnavailableError
from ..store.postgres.sql import check_schema_name
from ._pg_swap import begin_swap, refuse_unmovable, scratch_schema
from ._pg_tx import (
    RESET_LOCK_TIMEOUT,
    SET_LOCK_TIMEOUT,
    SWAP_LOCK,
    Conn,
    PostgresReads,
    PostgresSnapshot,
    PostgresTransaction,
    Statements,
    describe,
    lost,
    milliseconds,
    reason,
    rollback,
)
from .readmodel import ReadModel, UnitOfWork

__all__ = ["PostgresReadModel", "PostgresTransaction"]

R = TypeVar("R")
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_LOCK_TIMEOUT: Final = 30.0
#: First key of the advisory lock that serializes the creation of one schema.
_SCHEMA_LOCK: Final = 0x4546_524D  # "EFRM"
_SHARE_SWAP: Final = "SELECT pg_advisory_lock_shared(%s, hashtext(%s))"
_UNSHARE_SWAP: Final = "SELECT pg_advisory_unlock_shared(%s, hashtext(%s))"
_BEGIN_SNAPSHOT: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_IDLE_SNAPSHOTS: Final = 4  # connections kept for the next snapshots
_NO_TABLE = (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)


class PostgresReadModel(ReadModel[PostgresTransaction], PostgresReads):
    """A read model in the PostgreSQL ``schema`` (created on first write) of the
    database that ``dsn_or_url`` names (a ``postgresql://`` URL or a libpq
    ``key=value`` string).

    ``connect_timeout`` bounds each connection attempt (libpq counts whole
    seconds, at least 2); :class:`~eventflux.StoreUnavailableError` names the
    server it could not reach. ``lock_timeout`` bounds the wait for the
    projection's checkpoint held by another runner, and a swap's wait for
    readers to let go of the tables it replaces
    (:class:`~eventflux.StoreBusyError` after it).
    """

    async_handlers_only: ClassVar[bool] = True

    def __init__(
        self,
        dsn_or_url: str,
        *,
        schema: str = "public",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        _fresh: bool = False,
    ) -> None:
        try:
            check_schema_name(schema)
        except ValueError as e:
            raise ConfigurationError(f"read model {e}") from None
        try:
            params = pg_conninfo.conninfo_to_dict(dsn_or_url)
        except psycopg.Error as e:
            raise ConfigurationError(
                f"bad PostgreSQL connection string ({reason(e)}); give the schema with "
                "schema=NAME, or open a URL with ?schema=NAME by PostgresReadModel.from_url"
            ) from None
        if not connect_timeout > 0 or not lock_timeout > 0:
            raise ConfigurationError("connect_timeout and lock_timeout must be positive")
        self.schema = schema
        self.connect_timeout = connect_timeout
        self.lock_timeout = lock_timeout
        self._conninfo = dsn_or_url
        self._where = describe(params)
        self._st = Statements.for_schema(schema)
        self._fresh = _fresh
        self._writer: Conn | None = None
        self._reader: Conn | None = None
        self._idle: list[Conn] = []  # snapshot connections, for the next snapshots
        self._lent: set[Conn] = set()  # snapshot connections in use
        self._lock = asyncio.Lock()
        self._connecting = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **settings: Any) -> PostgresReadModel:
        """Open the read model named by a ``postgresql://`` (or ``postgres://``) URL.

        Options: ``schema`` (default ``public``) and ``connect_timeout``
        (seconds); the other query options go to libpq (e.g. ``sslmode``).
        """
        parts, options = parse_url(url)
        if parts.scheme.lower() not in ("postgresql", "postgres"):
            raise ConfigurationError(f"expected a postgresql:// URL, got {parts.scheme}://")
        if "schema" in options:
            if "schema" in settings:
                raise ConfigurationError("the schema is given both in the URL and as an argument")
            settings["schema"] = options.pop("schema")
        if "connect_timeout" in options:
            settings["connect_timeout"] = float_option(options, "connect_timeout", 0.0)
        conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(options), ""))
        return cls(conninfo, **settings)

    def __repr__(self) -> str:
        return f"PostgresReadModel({self._where!r}, schema={self.schema!r})"

    # -- connections --------------------------------------------------------------
    def _unavailable(self, error: BaseException) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the read model in PostgreSQL schema {self.schema!r} at {self._where} "
            f"failed: {reason(error)}"
        )

    async def _connect(self, *, prepare: bool) -> Conn:
        """A new autocommit connection whose ``search_path`` is the schema.

        Only the writer prepares its repeated statements: a reader's prepared
        plan would fail once a swap changed the columns of a table it reads.
        """
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                prepare_threshold=5 if prepare else None,
                connect_timeout=max(2, math.ceil(self.connect_timeout)),
            )
        except psycopg.Error as e:
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL at {self._where} for the read model in "
                f"schema {self.schema!r}: {reason(e)}"
            ) from e
        return await self._set_up(conn, self._configure)

    async def _configure(self, conn: Conn) -> None:
        await conn.execute(self._st.search_path)
        if self._fresh:  # a rebuild's scratch schema: speed over durability
            await conn.execute("SET synchronous_commit TO off")

    async def _set_up(self, conn: Conn, step: Callable[[Conn], Awaitable[None]]) -> Conn:
        """``await step(conn)``; on failure close the new connection, and turn a
        driver error into StoreUnavailableError."""
        try:
            await step(conn)
        except BaseException as e:
            await conn.close()
            if isinstance(e, psycopg.Error):
                raise self._unavailable(e) from e
            raise
        return conn

    async def _prepare_schema(self, conn: Conn, *, drop_first: bool = False) -> None:
        """Create the schema (if missing) and its checkpoints table; one process at
        a time, so that processes starting together do not trip over each other."""
        schema = sql.Identifier(self.schema)
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_SCHEMA_LOCK, self.schema)
            )
            if drop_first:
                await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
            cur = await conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            )
            if await cur.fetchone() is None:
                await conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            await conn.execute(self._st.create)

    async def _writer_conn(self, *, drop_first: bool = False) -> Conn:
        """The writer connection, idle (the caller holds the lock); a lost one,
        or one left inside a transaction by a cancellation, is replaced."""
        conn = self._writer
        if conn is not None and (
            lost(conn) or conn.info.transaction_status != TransactionStatus.IDLE
        ):
            self._writer = None
            await conn.close()
            conn = None
        if conn is None:
            conn = await self._set_up(
                await self._connect(prepare=True),
                lambda c: self._prepare_schema(c, drop_first=drop_first),
            )
            self._writer = conn
        return conn

    async def _reader_conn(self) -> Conn:
        conn = self._reader
        if conn is None:
            async with self._connecting:
                conn = self._reader
                if conn is None:
                    conn = self._reader = await self._connect(prepare=False)
        return conn

    async def _forget_reader(self, conn: Conn) -> None:
        if self._reader is conn:
            self._reader = None
        await conn.close()

    # -- reading ------------------------------------------------------------------
    async def _run(self, op: Callable[[Conn], Awaitable[R]]) -> R:
        """Run a query on the reader connection. A lost connection (a server
        restart, the network) is replaced and the query runs once more: reads
        are safe to repeat."""
        conn = await self._reader_conn()
        try:
            return await op(conn)
        except psycopg.OperationalError:
            if not lost(conn):
                raise
            await self._forget_reader(conn)
        conn = await self._reader_conn()
        try:
            return await op(conn)
        except psycopg.OperationalError as e:
            if not lost(conn):
                raise
            await self._forget_reader(conn)
            raise self._unavailable(e) from e

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[PostgresReads]:
        """Read several queries from one committed state::

        async with catalog.snapshot() as db:
            page = await db.fetch_all("SELECT * FROM products LIMIT 10")
            total = await db.fetch_value("SELECT count(*) FROM products")

        Each open snapshot has a connection of its own (a few idle ones are
        kept for the next snapshots). A snapshot and a rebuild's swap exclude
        each other (a shared and an exclusive advisory lock): PostgreSQL's
        snapshot of a transaction is taken at its first query, and one taken
        before a swap commits would see the moved tables without the swap's
        own writes. So a snapshot begins before a swap or after it.
        """
        conn = await self._snapshot_conn()
        self._lent.add(conn)
        try:
            yield PostgresSnapshot(conn)
        finally:
            self._lent.discard(conn)
            await self._give_back(conn)

    async def _begin_snapshot(self, conn: Conn) -> None:
        # Two round trips: statements sent together would run in one implicit
        # transaction, whose snapshot would predate the wait for the lock.
        await conn.execute(_SHARE_SWAP, (SWAP_LOCK, self.schema))
        await conn.execute(_BEGIN_SNAPSHOT)

    async def _snapshot_conn(self) -> Conn:
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
        return await self._set_up(await self._connect(prepare=False), self._begin_snapshot)

    async def _give_back(self, conn: Conn) -> None:
        try:
            if not lost(conn):
                async with conn.pipeline():
                    await conn.execute("ROLLBACK")  # read only: nothing to commit
                    await conn.execute(_UNSHARE_SWAP, (SWAP_LOCK, self.schema))
                if len(self._idle) < _IDLE_SNAPSHOTS:
                    self._idle.append(conn)
                    return
        except BaseException as e:
            await conn.close()
            if not isinstance(e, psycopg.Error):
                raise
            return
        await conn.close()

    async def checkpoint(self, name: str) -> int:
        return (await self.checkpoints()).get(name, 0)

    async def checkpoints(self) -> dict[str, int]:
        """Every projection's committed checkpoint in this schema ({} before the first)."""
        try:
            rows = await self.fetch_all(self._st.read_all)
        except _NO_TABLE:
            return {}
        return {r["name"]: int(r["position"]) for r in rows}

    # -- writing ------------------------------------------------------------------
    async def _begin(self, conn: Conn, name: str) -> UnitOfWork[PostgresTransaction]:
        """BEGIN, insert the checkpoint row if missing, lock it; one round trip."""
        try:
            async with conn.pipeline():
                await conn.execute("BEGIN")
                await conn.execute(SET_LOCK_TIMEOUT, (milliseconds(self.lock_timeout),))
                inserted = await conn.execute(self._st.insert, (name,))
                locked = await conn.execute(self._st.lock, (name,))
                await conn.execute(RESET_LOCK_TIMEOUT)
            row = await locked.fetchone()
        except pg_errors.LockNotAvailable as e:
            raise StoreBusyError(
                f"the checkpoint of projection {name!r} in schema {self.schema!r} stayed "
                f"locked by another runner for {self.lock_timeout} s"
            ) from e
        except psycopg.Error as e:
            raise self._unavailable(e) from e
        if row is None:  # pragma: no cover - the row was inserted or locked above
            raise StoreUnavailableError(f"the checkpoint row of {name!r} vanished")
        return UnitOfWork(PostgresTransaction(conn), int(row[0]), inserted.rowcount == 1)

    async def _commit(self, conn: Conn, name: str, position: int) -> None:
        try:
            async with conn.pipeline():
                await conn.execute(self._st.save, (position, name))
                await conn.execute("COMMIT")
        except psycopg.Error as e:
            raise self._unavailable(e) from e

    @asynccontextmanager
    async def _transaction(
        self,
        conn: Conn,
        name: str,
        begin: Callable[[], Awaitable[UnitOfWork[PostgresTransaction]]],
    ) -> AsyncIterator[UnitOfWork[PostgresTransaction]]:
        """``begin()``, yield, write the checkpoint and COMMIT; ROLLBACK on any
        exception or cancellation (the caller holds the lock)."""
        try:
            uow = await begin()
            yield uow
            await self._commit(conn, name, uow.checkpoint)
        except BaseException:
            try:
                await rollback(conn)
            except psycopg.Error:
                pass  # the connection is closed; the first error is the one to see
            raise

    @asynccontextmanager
    async def unit_of_work(self, name: str) -> AsyncIterator[UnitOfWork[PostgresTransaction]]:
        async with self._lock:
            conn = await self._writer_conn()
            async with self._transaction(conn, name, lambda: self._begin(conn, name)) as uow:
                yield uow

    # -- rebuilding ---------------------------------------------------------------
    async def create_fresh(self, name: str) -> PostgresReadModel:
        """A scratch schema ``<schema>_rebuild_<name>`` in the same database (a
        leftover of a crashed rebuild is dropped first; run one rebuild of a
        projection at a time)."""
        fresh = PostgresReadModel(
            self._conninfo,
            schema=scratch_schema(self.schema, name),
            connect_timeout=self.connect_timeout,
            lock_timeout=self.lock_timeout,
            _fresh=True,
        )
        await fresh._writer_conn(drop_first=True)
        return fresh

    @asynccontextmanager
    async def swap_in(
        self, fresh: ReadModel[PostgresTransaction], name: str
    ) -> AsyncIterator[UnitOfWork[PostgresTransaction]]:
        if not isinstance(fresh, PostgresReadModel):
            raise TypeError("a PostgreSQL read model swaps in another PostgresReadModel")
        start = await fresh.checkpoint(name)
        await fresh._close()
        async with self._lock:
            conn = await self._writer_conn()
            try:
                await refuse_unmovable(conn, fresh.schema, name)
            except psycopg.Error as e:
                raise self._unavailable(e) from e

            async def begin() -> UnitOfWork[PostgresTransaction]:
                await begin_swap(conn, self._st, name, fresh.schema, self.lock_timeout)
                return UnitOfWork(PostgresTransaction(conn), start)

            async with self._transaction(conn, name, begin) as uow:
                yield uow

    # -- closing ------------------------------------------------------------------
    async def _close(self) -> None:
        conns = [c for c in (self._writer, self._reader) if c is not None]
        conns += self._idle + list(self._lent)
        self._writer = self._reader = None
        self._idle = []
        self._lent = set()
        for conn in conns:
            await conn.close()

    async def discard(self) -> None:
        """Close the model and drop its scratch schema (a model made by
        :meth:`create_fresh`; a live schema is never dropped)."""
        if not self._fresh:
            raise ConfigurationError(
                f"discard() drops a rebuild's scratch schema; {self.schema!r} is a live one"
            )
        await self._close()
        conn = await self._connect(prepare=False)
        try:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )
        except psycopg.Error as e:
            raise self._unavailable(e) from e
        finally:
            await conn.close()

    async def close(self) -> None:
        await self._close()
