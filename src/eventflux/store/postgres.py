"""PostgreSQL event store: many processes on many machines share one log.

Open it with a ``postgresql://`` (or ``postgres://``) URL; the ``postgres``
extra brings the driver (psycopg 3 and its connection pool)::

    store = await open_store("postgresql://app@db.internal/shop?schema=orders")

URL options (the other query options go to libpq, e.g. ``sslmode``):
``schema`` (default ``eventflux``: the PostgreSQL schema holding the tables,
created on first use), ``pool_min`` / ``pool_max`` (connections, default 1 and
10), ``wait_timeout`` (seconds an operation waits for a connection or for the
server to come back, default 10), ``poll_interval`` (seconds between re-reads
of live subscriptions while notifications are down, default 0.5) and
``max_event_bytes``.

Global order. Positions are handed out in commit order: an appending
transaction first locks its stream rows and checks everything, then, in one
statement sent together with its COMMIT, updates the single ``head`` row
(which draws its positions) and inserts its events. The head row stays locked
until the transaction's commit is visible to everyone (PostgreSQL makes a
commit visible before it releases the transaction's locks), so the next
transaction draws higher positions only after every lower position is either
visible or rolled back. A reader reads the head row in the same statement (same
snapshot) as the events, and may skip up to the head position: nothing at or
below it can become visible later. Appends of one process are grouped into one
transaction (group commit) to keep the serialised part short.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar
from urllib.parse import SplitResult, urlencode, urlunsplit

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .._internal.urls import float_option, int_option
from ..codec import Codec
from ..events import AppendResult, RecordedEvent
from ..exceptions import (
    ConfigurationError,
    NotAnEventStoreError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
)
from ._pg_arrays import register as register_arrays
from ._pg_listener import Listener
from ._pg_read import decode_page, iter_live
from ._pg_sql import MIGRATION_LOCK, SCHEMA_VERSION, Statements, check_schema_name
from ._pg_writer import ConnectionLost, GroupWriter
from .base import DEFAULT_MAX_EVENT_BYTES, AppendBatch, EventStore, StreamLimits

__all__ = ["PostgresEventStore"]

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]

_OPTIONS = ("schema", "pool_min", "pool_max", "wait_timeout", "poll_interval", "max_event_bytes")


class PostgresEventStore(EventStore):
    """Event store on a PostgreSQL server (11 or later; the tests run on 15).

    Every process that opens the same URL (same database, same ``schema``)
    shares one store: appends from all of them are ordered in one global log,
    and live subscriptions in any process see every commit. Open it with
    :func:`eventflux.open_store`::

        async with await open_store("postgresql://app@db/shop?schema=orders") as store:
            await store.append("order-7", [NewEvent("Placed", {"total": 42})])
    """

    #: Rows per read round trip: large pages spread a query's fixed cost
    #: (read_all of 100,000 events: about +10% from 512 to 1024, +5% more at 2048).
    page_size = 2048

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "eventflux",
        pool_min: int = 1,
        pool_max: int = 10,
        wait_timeout: float = 10.0,
        poll_interval: float = 0.5,
        codec: Codec | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        super().__init__(codec=codec, max_event_bytes=max_event_bytes)
        self.statements = Statements.for_schema(schema)
        self.schema = schema
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        #: Payload of this store's notifications (its own wake-ups are not repeated).
        self.token = secrets.token_hex(8)
        self._conninfo = conninfo
        self._pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            kwargs={"autocommit": True},
            configure=_configure,
            timeout=wait_timeout,
            open=False,
            name=f"eventflux-{schema}",
        )
        self._writer = GroupWriter(self)
        given = pg_conninfo.conninfo_to_dict(conninfo)
        keepalive = {k: v for k, v in _KEEPALIVE.items() if k not in given}
        self._listener = Listener(
            conninfo, keepalive, self.statements.notify_channel, self.token, self._notify_appended
        )

    # -- opening --------------------------------------------------------------------
    @classmethod
    async def _open(
        cls, url: SplitResult, options: dict[str, str], *, codec: Codec | None = None
    ) -> Self:
        schema = options.pop("schema", "eventflux")
        try:
            check_schema_name(schema)
        except ValueError as e:
            raise ConfigurationError(f"URL option schema: {e}") from None
        pool_min = int_option(options, "pool_min", 1, minimum=0)
        pool_max = int_option(options, "pool_max", 10)
        if pool_max < max(pool_min, 1):
            raise ConfigurationError(f"URL option pool_max={pool_max} is below pool_min")
        wait_timeout = float_option(options, "wait_timeout", 10.0)
        poll_interval = float_option(options, "poll_interval", 0.5)
        max_bytes = int_option(options, "max_event_bytes", DEFAULT_MAX_EVENT_BYTES)
        conninfo = urlunsplit((url.scheme, url.netloc, url.path, urlencode(options), ""))
        try:
            pg_conninfo.conninfo_to_dict(conninfo)
        except psycopg.Error as e:
            raise ConfigurationError(
                f"bad PostgreSQL URL ({e}); eventflux options are {', '.join(_OPTIONS)}, "
                "the others go to libpq"
            ) from None
        store = cls(
            conninfo,
            schema=schema,
            pool_min=pool_min,
            pool_max=pool_max,
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
            codec=codec,
            max_event_bytes=max_bytes,
        )
        await store._start()
        return store

    async def _start(self) -> None:
        # The schema is checked on a connection of its own, so that a server that
        # cannot be reached or used reports libpq's own reason.
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=max(2, int(self.wait_timeout))
            )
        except psycopg.Error as e:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {e}".rstrip()) from e
        try:
            async with conn:
                await _configure(conn)
                await self._migrate(conn)
        except psycopg.Error as e:
            raise self._translate(e) from e
        await self._pool.open(wait=False)

    async def _migrate(self, conn: Conn) -> None:
        st = self.statements
        async with conn.transaction():
            # One process at a time creates or migrates a schema; the others wait here
            # and then find it ready.
            await conn.execute(st.lock_migration, (MIGRATION_LOCK, self.schema))
            cur = await conn.execute(st.schema_tables, (self.schema,))
            row = await cur.fetchone()
            tables: list[str] = row[0] if row else []
            if "eventflux_schema" not in tables:
                if tables:
                    raise NotAnEventStoreError(
                        f"PostgreSQL schema {self.schema!r} holds other tables "
                        f"({', '.join(tables[:5])}) but no eventflux event store; pick "
                        "another one with the URL option ?schema=NAME"
                    )
                await conn.execute(st.create)
                return
            cur = await conn.execute(st.read_version)
            vrow = await cur.fetchone()
            version = int(vrow[0]) if vrow else 0
            if version > SCHEMA_VERSION:
                raise NotAnEventStoreError(
                    f"PostgreSQL schema {self.schema!r} holds an event store of layout "
                    f"{version}, newer than this eventflux understands ({SCHEMA_VERSION}); "
                    "upgrade eventflux"
                )
            # Later layouts add their steps to _pg_sql.MIGRATIONS and run them here.

    async def _close(self) -> None:
        await self._writer.close()
        await self._listener.close()
        await self._pool.close()

    # -- connections and errors -----------------------------------------------------
    async def _with_connection(
        self, fn: Callable[[Conn], Awaitable[T]], *, retry: bool = True
    ) -> T:
        """Run ``fn`` on a pooled connection.

        With ``retry``, an operation whose connection was lost (server restart,
        network) runs again on another connection until ``wait_timeout``, and
        errors come out translated. Without it, a lost connection comes out as
        :class:`ConnectionLost` and other driver errors as they are.
        """
        deadline: float | None = None
        delay = 0.02
        while True:
            lost = False
            try:
                async with self._pool.connection() as conn:
                    try:
                        return await fn(conn)
                    except psycopg.OperationalError:
                        lost = conn.closed or conn.broken
                        raise
                    finally:
                        if (
                            not conn.closed
                            and conn.info.transaction_status != TransactionStatus.IDLE
                        ):
                            with contextlib.suppress(psycopg.Error):
                                await conn.rollback()
            except StoreError:
                raise
            except psycopg.Error as e:
                if not retry:
                    if lost:
                        raise ConnectionLost(e) from e
                    raise
                if not lost or isinstance(e, PoolTimeout):
                    raise self._translate(e) from e
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.wait_timeout
                if now >= deadline or self._closed:
                    raise self._translate(e) from e
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _translate(self, e: Exception) -> Exception:
        """The eventflux error for a driver error (other errors pass through)."""
        if isinstance(e, ConnectionLost):
            e = e.error
        if isinstance(e, StoreError):
            return e
        if isinstance(e, PoolTimeout):
            return StoreBusyError(
                f"no PostgreSQL connection within {self.wait_timeout} s: the server is "
                f"unreachable or all {self._pool.max_size} pooled connections are busy "
                "(URL options wait_timeout and pool_max)"
            )
        if isinstance(e, psycopg.OperationalError):
            return StoreUnavailableError(f"PostgreSQL is unavailable: {e}".rstrip())
        if isinstance(e, psycopg.Error):
            return StoreUnavailableError(f"PostgreSQL refused the operation: {e}".rstrip())
        return e

    async def _fetch(self, sql: str, params: Any, *, binary: bool = True) -> list[tuple[Any, ...]]:
        async def run(conn: Conn) -> list[tuple[Any, ...]]:
            cur = conn.cursor(binary=binary)
            await cur.execute(sql, params)
            return await cur.fetchall()

        return await self._with_connection(run)

    async def _in_transaction(self, steps: list[tuple[str, Any]]) -> None:
        async def run(conn: Conn) -> None:
            async with conn.pipeline():
                await conn.execute("BEGIN")
                for sql, params in steps:
                    await conn.execute(sql, params)
                await conn.execute("COMMIT")

        await self._with_connection(run)

    # -- writing ----------------------------------------------------------------------
    async def _append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        return await self._writer.submit(batches)

    # -- reading ----------------------------------------------------------------------
    def _read(
        self,
        stream: str,
        from_version: int | None,
        backwards: bool,
        limit: int | None,
        as_of: datetime | None,
    ) -> AsyncIterator[RecordedEvent]:
        st = self.statements
        if backwards:
            sql = st.read_backwards_as_of if as_of is not None else st.read_backwards
            first = 1 << 62
        else:
            sql = st.read_forwards_as_of if as_of is not None else st.read_forwards
            first = 0

        async def page(start: int | None, n: int) -> list[RecordedEvent]:
            at = first if start is None else start
            params = {"stream": stream, "from": at, "limit": n, "as_of": as_of}
            rows = await self._fetch(sql, params)
            return [self._decode(*row) for row in rows]

        return self._read_in_pages(page, from_version, backwards, limit)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> tuple[list[RecordedEvent], int]:
        sql = self.statements.read_all[types is not None, prefix is not None]
        params = {"after": after, "limit": limit, "types": list(types or ()), "prefix": prefix}
        return decode_page(self, await self._fetch(sql, params), after, limit)

    def _iter_live(
        self, after: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> AsyncIterator[RecordedEvent]:
        return iter_live(self, after, types, prefix)

    async def _wait_for_change(self, generation: int) -> None:
        if not self._listener.started and not self._closed:
            await self._listener.start()
        await super()._wait_for_change(generation)

    def _poll_interval(self) -> float | None:
        return None if self._listener.connected else self.poll_interval

    async def _stream_version(self, stream: str) -> int:
        rows = await self._fetch(self.statements.stream_version, (stream,))
        return int(rows[0][0]) if rows else 0

    async def _last_position(self) -> int:
        rows = await self._fetch(self.statements.last_position, ())
        return int(rows[0][0])

    async def _streams(self, prefix: str) -> list[str]:
        rows = await self._fetch(self.statements.streams, (prefix,))
        return [r[0] for r in rows]

    # -- administration ---------------------------------------------------------------
    async def _delete_stream(self, stream: str, hard: bool) -> None:
        st = self.statements
        if not hard:
            await self._in_transaction([(st.soft_delete, (stream,))])
            return
        await self._in_transaction(
            [
                (st.hard_delete_stream, (stream,)),
                (st.hard_delete_events, (stream,)),
                (st.hard_delete_snapshot, (stream,)),
            ]
        )

    async def _set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        st = self.statements
        await self._in_transaction(
            [
                (st.set_limits, (stream, limits.max_count, limits.max_age)),
                (st.prune_now, ([stream],)),
            ]
        )

    async def _stream_limits(self, stream: str) -> StreamLimits:
        rows = await self._fetch(self.statements.get_limits, (stream,))
        if not rows:
            return StreamLimits()
        max_count, max_age = rows[0]
        return StreamLimits(
            None if max_count is None else int(max_count),
            max_age if isinstance(max_age, timedelta) else None,
        )

    # -- snapshots --------------------------------------------------------------------
    async def _save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        await self._in_transaction(
            [(self.statements.save_snapshot, (stream, version, type_name, data, schema_version))]
        )

    async def _load_snapshot(self, stream: str) -> tuple[int, str, bytes, int, datetime] | None:
        rows = await self._fetch(self.statements.load_snapshot, (stream,))
        if not rows:
            return None
        version, type_name, data, schema_version, at = rows[0]
        return int(version), type_name, bytes(data), int(schema_version), at


# Notice a dead notification connection (no packets from a vanished peer) in about
# 20 s, instead of the operating system's default of hours.
_KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


async def _configure(conn: Conn) -> None:
    register_arrays(conn)
    # Timestamps come back in UTC whatever the server's or the role's time zone.
    await conn.execute("SET TIME ZONE 'UTC'")
