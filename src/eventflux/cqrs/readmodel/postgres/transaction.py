"""What PostgreSQL handlers write through and snapshots read through.

:class:`PostgresTransaction` wraps the writer's synchronous connection (its
methods are plain calls, like every read model's); :class:`PostgresSnapshot`
and the query helpers read through asynchronous connections. Statements with
parameters are translated from ``:name`` placeholders (see
:mod:`.placeholders`); without parameters they go to the server as written.

Example::

    tx = PostgresTransaction(conn)    # inside the unit of work's transaction
    tx.execute("INSERT INTO t VALUES (:x)", {"x": 1})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias

import psycopg
from psycopg.rows import dict_row

from ..backend import Params, ReadSnapshot, Row, Transaction, named_params
from .placeholders import to_pyformat

__all__ = [
    "AsyncConn",
    "PostgresSnapshot",
    "PostgresTransaction",
    "SyncConn",
    "fetch_all",
    "fetch_one",
    "fetch_value",
    "statement",
]

SyncConn: TypeAlias = psycopg.Connection[Any]
AsyncConn: TypeAlias = psycopg.AsyncConnection[Any]


def statement(sql: str, params: Params | None) -> tuple[str, Params | None]:
    """The statement and parameters as psycopg takes them."""
    if params is None:
        return sql, None
    return to_pyformat(sql), named_params(params)


async def fetch_all(conn: AsyncConn, sql: str, params: Params | None) -> list[Row]:
    """Every row of a query on ``conn``, as dicts."""
    query, args = statement(sql, params)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, args)
        return await cur.fetchall()


async def fetch_one(conn: AsyncConn, sql: str, params: Params | None) -> Row | None:
    """The first row of a query on ``conn`` as a dict, or None."""
    query, args = statement(sql, params)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, args)
        return await cur.fetchone()


async def fetch_value(conn: AsyncConn, sql: str, params: Params | None) -> Any:
    """The first column of the first row of a query on ``conn``, or None."""
    query, args = statement(sql, params)
    async with conn.cursor() as cur:
        await cur.execute(query, args)
        row = await cur.fetchone()
    return None if row is None else row[0]


class PostgresTransaction(Transaction):
    """The open transaction of a PostgreSQL unit of work (the writer connection).

    Names are unqualified: the connection's ``search_path`` is the read
    model's schema.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: SyncConn) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params | None = None) -> int:
        query, args = statement(sql, params)
        return self._conn.execute(query, args).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        with self._conn.cursor() as cur:
            cur.executemany(to_pyformat(sql), [named_params(r) for r in rows])
            return cur.rowcount

    def script(self, sql: str) -> None:
        # without parameters, PostgreSQL takes several statements at once
        self._conn.execute(sql)

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        query, args = statement(sql, params)
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, args)
            return cur.fetchall()

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        query, args = statement(sql, params)
        with self._conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, args)
            return cur.fetchone()

    def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        query, args = statement(sql, params)
        with self._conn.cursor() as cur:
            cur.execute(query, args)
            row = cur.fetchone()
        return None if row is None else row[0]


class PostgresSnapshot(ReadSnapshot):
    """Reads of one committed state (a REPEATABLE READ READ ONLY transaction)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConn) -> None:
        self._conn = conn

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return await fetch_all(self._conn, sql, params)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return await fetch_one(self._conn, sql, params)

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        return await fetch_value(self._conn, sql, params)
