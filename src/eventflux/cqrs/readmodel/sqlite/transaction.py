"""What SQLite handlers write through and snapshots read through.

SQLite takes the read models' one placeholder style, ``:name`` with a mapping,
natively: statements go to the driver as written.

Example::

    tx = SQLiteTransaction(conn)      # inside BEGIN IMMEDIATE
    tx.execute("INSERT INTO t VALUES (:x)", {"x": 1})
    assert tx.fetch_value("SELECT count(*) FROM t") == 1
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..backend import Params, ReadSnapshot, Row, Transaction, named_params

__all__ = [
    "SQLiteSnapshot",
    "SQLiteTransaction",
    "bind",
    "first_row",
    "first_value",
    "rows_of",
    "split_script",
]


def bind(params: Params | None) -> Params | tuple[()]:
    """The parameters as sqlite3 takes them (checked: a mapping, or none)."""
    if params is None:
        return ()
    if type(params) is dict:
        return params
    return named_params(params)


def rows_of(cursor: sqlite3.Cursor) -> list[Row]:
    """Every row of a cursor, as dicts by column name."""
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def first_row(cursor: sqlite3.Cursor) -> Row | None:
    """The cursor's first row as a dict, or None (the cursor is closed)."""
    row = cursor.fetchone()
    names = [d[0] for d in cursor.description or ()]
    cursor.close()
    return None if row is None else dict(zip(names, row, strict=True))


def first_value(cursor: sqlite3.Cursor) -> Any:
    """The first column of the cursor's first row, or None."""
    row = cursor.fetchone()
    cursor.close()
    return None if row is None else row[0]


def split_script(script: str) -> list[str]:
    """Split SQL text into complete statements (triggers with inner ``;`` kept whole)."""
    out: list[str] = []
    buf = ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \n\t;"):
        out.append(buf.strip())
    return out


class SQLiteTransaction(Transaction):
    """The open ``BEGIN IMMEDIATE`` transaction of a SQLite unit of work."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Params | None = None) -> int:
        if params is None:
            return self._conn.execute(sql).rowcount
        if type(params) is not dict:
            params = named_params(params)
        return self._conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        return self._conn.executemany(sql, (named_params(r) for r in rows)).rowcount

    def script(self, sql: str) -> None:
        for statement in split_script(sql):
            self._conn.execute(statement)

    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return rows_of(self._conn.execute(sql, bind(params)))

    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return first_row(self._conn.execute(sql, bind(params)))

    def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        return first_value(self._conn.execute(sql, bind(params)))


class SQLiteSnapshot(ReadSnapshot):
    """Reads inside one read transaction of a reader connection (WAL: one state)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        return rows_of(self._conn.execute(sql, bind(params)))

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        return first_row(self._conn.execute(sql, bind(params)))

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        return first_value(self._conn.execute(sql, bind(params)))
