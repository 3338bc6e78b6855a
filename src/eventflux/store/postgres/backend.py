"""The PostgreSQL store backend: many processes on many machines share one log.

Open it with a ``postgresql://`` (or ``postgres://``) URL; the ``postgres``
extra brings the driver (psycopg 3 and its connection pool)::

    store = await open_store("postgresql://app@db.internal/shop?schema=orders")

URL options (the other query options go to libpq, e.g. ``sslmode``):
``schema`` (default ``eventflux``: the PostgreSQL schema holding the tables,
created on first use), ``pool_min`` / ``pool_max`` (connections, default 1 and
10), ``wait_timeout`` (seconds an operation waits for a connection or for the
server to come back, default 10), ``poll_interval`` (seconds between re-reads
of live subscriptions while notifications are down, default 0.5) and
``max_event_bytes``, ``max_append_events`` and ``max_append_bytes`` (taken by
the facade).

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
transaction (group commit, :mod:`.writer`) to keep the serialised part short.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Self
from urllib.parse import SplitResult, urlencode, urlunsplit

import orjson
import psycopg
from psycopg import conninfo as pg_conninfo

from ..._internal.postgres import check_schema_name
from ..._internal.urls import float_option, int_option
from ...codec import Codec
from ...events import CORRELATION_ID, AppendResult, RecordedEvent
from ...exceptions import (
    ConfigurationError,
    NotAnEventStoreError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
)
from ..backend import AppendBatch, LogPage, StoreBackend, StoredSnapshot, decode_event
from ..types import StreamLimits
from .connections import Conn, Connections, configure
from .listener import Listener
from .reads import decode_page
from .sql import MIGRATION_LOCK, SCHEMA_VERSION, Statements, correlation_key
from .writer import AppendWriter

__all__ = ["PostgresStoreBackend"]

_OPTIONS = (
    "schema",
    "pool_min",
    "pool_max",
    "wait_timeout",
    "poll_interval",
    "max_event_bytes",
    "max_append_events",
    "max_append_bytes",
)


class PostgresStoreBackend(StoreBackend):
    """Events on a PostgreSQL server (11 or later; the tests run on 15).

    Every process that opens the same URL (same database, same ``schema``)
    shares one store: appends from all of them are ordered in one global log,
    and live subscriptions in any process see every commit. Open it with
    :func:`eventflux.open_store`::

        async with await open_store("postgresql://app@db/shop?schema=orders") as store:
            await store.append("order-7", [NewEvent("Placed", {"total": 42})])
    """

    system = "postgresql"
    #: Rows per read round trip: large pages spread a query's fixed cost
    #: (read_all of 100,000 events: about +10% from 512 to 1024, +5% more at 2048).
    page_size = 2048
    #: A server that restarts comes back: live subscriptions wait it out.
    outages_are_transient = True

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "eventflux",
        pool_min: int = 1,
        pool_max: int = 10,
        wait_timeout: float = 10.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.statements = Statements.for_schema(schema)
        self.schema = schema
        self.conninfo = conninfo
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        #: Payload of this store's notifications (its own wake-ups are not repeated).
        self.token = secrets.token_hex(8)
        #: The pool, and how operations use it.
        self.connections = Connections(
            conninfo,
            name=f"eventflux-{schema}",
            pool_min=pool_min,
            pool_max=pool_max,
            wait_timeout=wait_timeout,
        )
        #: The group-commit writer of this store's appends.
        self.writer = AppendWriter(self.connections, self.statements, self.token)
        #: The LISTEN connection that wakes live subscriptions.
        self.listener = Listener(conninfo, self.statements.notify_channel, self.token)
        self._store_id = ""

    # -- opening --------------------------------------------------------------------
    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str], *, create: bool = True) -> Self:
        """The store in the database and ``schema`` the URL names (created on
        first use, unless ``create`` is False); the options eventflux does not
        take go to libpq."""
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
        conninfo = urlunsplit((url.scheme, url.netloc, url.path, urlencode(options), ""))
        try:
            pg_conninfo.conninfo_to_dict(conninfo)
        except psycopg.Error as e:
            raise ConfigurationError(
                f"bad PostgreSQL URL ({e}); eventflux options are {', '.join(_OPTIONS)}, "
                "the others go to libpq"
            ) from None
        backend = cls(
            conninfo,
            schema=schema,
            pool_min=pool_min,
            pool_max=pool_max,
            wait_timeout=wait_timeout,
            poll_interval=poll_interval,
        )
        await backend._start(create)
        return backend

    async def _start(self, create: bool = True) -> None:
        # The schema is checked on a connection of its own, so that a server that
        # cannot be reached or used reports libpq's own reason.
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=max(2, int(self.wait_timeout))
            )
        except psycopg.Error as e:
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {e}".rstrip()) from e
        try:
            async with conn:
                await configure(conn)
                await self._migrate(conn, create)
        except psycopg.Error as e:
            raise self.connections.translate(e) from e
        await self.connections.open()

    async def _migrate(self, conn: Conn, create: bool = True) -> None:
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
                if not create:
                    raise StoreNotFoundError(
                        f"there is no event store in the PostgreSQL schema {self.schema!r}"
                    )
                await conn.execute(st.create)
            else:
                await self._upgrade(conn)
            cur = await conn.execute(st.set_store_id, (str(uuid.uuid4()),))
            id_row = await cur.fetchone()
            assert id_row is not None
            self._store_id = str(id_row[0])

    async def _upgrade(self, conn: Conn) -> None:
        """Bring a store of an earlier layout to this one (under the migration lock)."""
        st = self.statements
        cur = await conn.execute(st.read_version)
        vrow = await cur.fetchone()
        version = int(vrow[0]) if vrow else 0
        if version > SCHEMA_VERSION:
            raise NotAnEventStoreError(
                f"PostgreSQL schema {self.schema!r} holds an event store of layout "
                f"{version}, newer than this eventflux understands ({SCHEMA_VERSION}); "
                "upgrade eventflux"
            )
        while version < SCHEMA_VERSION:
            for step in st.migrations[version]:
                await conn.execute(step)
            if version == 1:  # the rows whose metadata PostgreSQL's json cannot read
                await self._backfill_correlations(conn)
            version += 1
            await conn.execute(f'UPDATE "{self.schema}".eventflux_schema SET version = {version}')

    async def _backfill_correlations(self, conn: Conn) -> None:
        st = self.statements
        cur = await conn.execute(st.correlation_backfill)
        fills = []
        for position, metadata in await cur.fetchall():
            value = orjson.loads(bytes(metadata)).get(CORRELATION_ID)
            if isinstance(value, str):
                fills.append((correlation_key(value), position))
        if fills:
            async with conn.cursor() as c:
                await c.executemany(st.correlation_fill, fills)

    async def close(self) -> None:
        self.connections.closed = True
        await self.writer.close()
        await self.listener.close()
        await self.connections.close()

    # -- writing ----------------------------------------------------------------------
    async def append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        return await self.writer.submit(batches)

    async def delete_stream(self, stream: str, *, hard: bool) -> None:
        st = self.statements
        if not hard:
            await self.connections.in_transaction([(st.soft_delete, (stream,))])
            return
        await self.connections.in_transaction(
            [
                (st.hard_delete_stream, (stream,)),
                (st.hard_delete_events, (stream,)),
                (st.hard_delete_snapshot, (stream,)),
            ]
        )

    async def set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        st = self.statements
        await self.connections.in_transaction(
            [
                (st.set_limits, (stream, limits.max_count, limits.max_age)),
                (st.prune_now, ([stream],)),
            ]
        )

    async def save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        await self.connections.in_transaction(
            [(self.statements.save_snapshot, (stream, version, type_name, data, schema_version))]
        )

    # -- reading ----------------------------------------------------------------------
    async def read_stream_page(
        self,
        stream: str,
        start: int | None,
        limit: int,
        *,
        backwards: bool,
        as_of: datetime | None,
        now: datetime,
        codec: Codec,
    ) -> list[RecordedEvent]:
        """A page of the stream; retention limits are measured at the server's
        clock (the time of each page)."""
        st = self.statements
        if backwards:
            sql = st.read_backwards_as_of if as_of is not None else st.read_backwards
            at = (1 << 62) if start is None else start
        else:
            sql = st.read_forwards_as_of if as_of is not None else st.read_forwards
            at = 0 if start is None else start
        params = {"stream": stream, "from": at, "limit": limit, "as_of": as_of}
        rows = await self.connections.fetch(sql, params)
        return [decode_event(codec, *row) for row in rows]

    async def read_all_page(
        self,
        after: int,
        limit: int,
        *,
        types: tuple[str, ...] | None,
        prefix: str | None,
        codec: Codec,
        correlation_id: str | None = None,
    ) -> LogPage:
        sql = self.statements.read_all[
            types is not None, prefix is not None, correlation_id is not None
        ]
        params: dict[str, Any] = {
            "after": after,
            "limit": limit,
            "types": list(types or ()),
            "prefix": prefix,
            "correlation_id": correlation_key(correlation_id),
        }
        if correlation_id is None:
            return decode_page(codec, await self.connections.fetch(sql, params), after, limit)
        # The column holds an id up to its first NUL (text cannot hold one): drop
        # the rows whose id only starts like this one, and read on until the page
        # is full or the index has no more rows.
        events: list[RecordedEvent] = []
        while True:
            want = limit - len(events)
            params["limit"] = want
            page = decode_page(
                codec, await self.connections.fetch(sql, params), params["after"], want
            )
            events.extend(
                e for e in page.events if e.metadata.get(CORRELATION_ID) == correlation_id
            )
            if len(events) >= limit:
                return LogPage(events, events[-1].position)
            if len(page.events) < want:
                return LogPage(events, max(page.mark, after))
            params["after"] = page.events[-1].position

    async def stream_version(self, stream: str) -> int:
        rows = await self.connections.fetch(self.statements.stream_version, (stream,))
        return int(rows[0][0]) if rows else 0

    async def last_position(self) -> int:
        rows = await self.connections.fetch(self.statements.last_position, ())
        return int(rows[0][0])

    async def head_position(self) -> int:
        rows = await self.connections.fetch(self.statements.head_position, ())
        return int(rows[0][0])

    async def streams(self, prefix: str) -> list[str]:
        rows = await self.connections.fetch(self.statements.streams, (prefix,))
        return [r[0] for r in rows]

    async def stream_limits(self, stream: str) -> StreamLimits:
        rows = await self.connections.fetch(self.statements.get_limits, (stream,))
        if not rows:
            return StreamLimits()
        max_count, max_age = rows[0]
        return StreamLimits(
            None if max_count is None else int(max_count),
            max_age if isinstance(max_age, timedelta) else None,
        )

    async def store_id(self) -> str:
        """The id recorded in the schema when the store was created."""
        return self._store_id

    async def load_snapshot(self, stream: str) -> StoredSnapshot | None:
        rows = await self.connections.fetch(self.statements.load_snapshot, (stream,))
        if not rows:
            return None
        version, type_name, data, schema_version, at = rows[0]
        return StoredSnapshot(int(version), type_name, bytes(data), int(schema_version), at)

    # -- backups ------------------------------------------------------------------------
    async def backup(self, dest: str) -> int:
        """A PostgreSQL store is backed up with the server's own tools."""
        raise StoreError(
            f"a PostgreSQL store is backed up with pg_dump: pg_dump --schema={self.schema} "
            f"--format=custom --file={dest} <database URL> (docs/store.md, Backups)"
        )

    # -- live subscriptions -------------------------------------------------------------
    async def start_waiting(self, wake: Callable[[], None]) -> float | None:
        """Start the LISTEN connection (first wait only); while it is down,
        subscriptions poll every ``poll_interval`` seconds."""
        if not self.listener.started and not self.connections.closed:
            await self.listener.start(wake)
        return None if self.listener.connected else self.poll_interval
