"""PostgreSQL pieces of the read model: the transaction handlers write through,
the query helpers, the checkpoint statements, and small connection helpers.

Every name that goes into SQL is quoted with :class:`psycopg.sql.Identifier`;
values always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeVar

import psycopg
from psycopg import sql
from psycopg.abc import Params
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from .readmodel import CHECKPOINTS_TABLE

__all__ = [
    "RESET_LOCK_TIMEOUT",
    "SET_LOCK_TIMEOUT",
    "SWAP_LOCK",
    "Conn",
    "PostgresReads",
    "PostgresSnapshot",
    "PostgresTransaction",
    "Query",
    "Statements",
    "describe",
    "lost",
    "milliseconds",
    "reason",
    "rollback",
]

R = TypeVar("R")
Conn = psycopg.AsyncConnection[Any]
#: SQL text (``%s`` placeholders) or a composition of :mod:`psycopg.sql`
Query: TypeAlias = str | bytes | sql.SQL | sql.Composed
#: First key of the advisory lock between a swap (exclusive) and snapshots (shared).
SWAP_LOCK: Final = 0x4546_5357  # "EFSW"
SET_LOCK_TIMEOUT: Final = "SELECT set_config('lock_timeout', %s, true)"
RESET_LOCK_TIMEOUT: Final = "SET LOCAL lock_timeout TO DEFAULT"


def reason(error: BaseException) -> str:
    """The driver's message on one line."""
    return " ".join(str(error).split()) or type(error).__name__


def lost(conn: Conn) -> bool:
    """True if the connection is closed or broken (server restart, network)."""
    return conn.closed or conn.broken


def milliseconds(seconds: float) -> str:
    """A duration as a PostgreSQL setting value (``lock_timeout``)."""
    return f"{max(1, round(seconds * 1000))}ms"


async def rollback(conn: Conn) -> None:
    """End the connection's transaction, if any; a connection that cannot is
    closed (a writer is then replaced by the next unit of work)."""
    if lost(conn) or conn.info.transaction_status == TransactionStatus.IDLE:
        return
    try:
        await conn.execute("ROLLBACK")
    except BaseException:
        await conn.close()
        raise


def describe(params: dict[str, Any]) -> str:
    """``host:port/database`` of parsed connection parameters (never the password)."""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or 5432
    database = params.get("dbname") or params.get("user") or ""
    return f"{host}:{port}/{database}"


async def _all(conn: Conn, query: Query, params: Params | None) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def _one(conn: Conn, query: Query, params: Params | None) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def _value(conn: Conn, query: Query, params: Params | None) -> Any:
    async with conn.cursor() as cur:
        await cur.execute(query, params)
        row = await cur.fetchone()
    return None if row is None else row[0]


class PostgresReads:
    """Query helpers over a connection (rows come back as dicts; ``%s`` parameters)."""

    __slots__ = ()

    async def _run(self, op: Callable[[Conn], Awaitable[R]]) -> R:
        raise NotImplementedError

    async def fetch_all(self, query: Query, params: Params | None = None) -> list[dict[str, Any]]:
        """Every row of a query, as dicts."""
        return await self._run(lambda conn: _all(conn, query, params))

    async def fetch_one(self, query: Query, params: Params | None = None) -> dict[str, Any] | None:
        """The first row of a query as a dict, or None."""
        return await self._run(lambda conn: _one(conn, query, params))

    async def fetch_value(self, query: Query, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        return await self._run(lambda conn: _value(conn, query, params))


class PostgresTransaction(PostgresReads):
    """What projection handlers write through: one open transaction.

    Its methods are coroutines (``await tx.execute(...)``), so the handlers of
    a projection on PostgreSQL are ``async def``. It has ``execute``,
    ``executemany``, ``script`` and the ``fetch_*`` helpers, but no commit:
    the unit of work commits, with the checkpoint. Names are unqualified: the
    connection's ``search_path`` is the read model's schema.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _run(self, op: Callable[[Conn], Awaitable[R]]) -> R:
        return await op(self._conn)

    async def execute(
        self, query: Query, params: Params | None = None
    ) -> psycopg.AsyncCursor[tuple[Any, ...]]:
        """Run one statement; the cursor gives ``rowcount`` (and rows, if any)."""
        return await self._conn.execute(query, params)

    async def executemany(
        self, query: Query, rows: Iterable[Params]
    ) -> psycopg.AsyncCursor[tuple[Any, ...]]:
        """Run one statement for each parameter row."""
        cur = self._conn.cursor()
        await cur.executemany(query, rows)
        return cur

    async def script(self, script: Query) -> None:
        """Run several statements separated by ``;`` (e.g. a schema), inside the
        transaction. No parameters: PostgreSQL takes several statements at once
        only without them."""
        await self._conn.execute(script)


class PostgresSnapshot(PostgresReads):
    """Reads of one committed state (a REPEATABLE READ READ ONLY transaction)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def _run(self, op: Callable[[Conn], Awaitable[R]]) -> R:
        return await op(self._conn)


@dataclass(frozen=True, slots=True)
class Statements:
    """The checkpoint statements of one schema (names quoted once, here)."""

    schema: str
    create: sql.Composed
    insert: sql.Composed
    lock: sql.Composed
    save: sql.Composed
    read_all: sql.Composed
    search_path: sql.Composed

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        table = sql.Identifier(schema, CHECKPOINTS_TABLE)
        return cls(
            schema=schema,
            create=sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, "
                "position bigint NOT NULL, updated_at timestamptz NOT NULL)"
            ).format(table),
            insert=sql.SQL(
                "INSERT INTO {} (name, position, updated_at) VALUES (%s, 0, now()) "
                "ON CONFLICT (name) DO NOTHING"
            ).format(table),
            lock=sql.SQL("SELECT position FROM {} WHERE name = %s FOR UPDATE").format(table),
            save=sql.SQL("UPDATE {} SET position = %s, updated_at = now() WHERE name = %s").format(
                table
            ),
            read_all=sql.SQL("SELECT name, position FROM {}").format(table),
            search_path=sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)),
        )
