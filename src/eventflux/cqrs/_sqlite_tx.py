"""SQLite pieces of the read model: the transaction handlers write through, the
query helpers, the statement splitter, the table copy of a swap, URL paths."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Final

from .readmodel import CHECKPOINTS_TABLE

__all__ = [
    "CHECKPOINTS_DDL",
    "Params",
    "Reads",
    "SQLiteTransaction",
    "Snapshot",
    "copy_objects",
    "split_script",
]

Params = Sequence[Any] | dict[str, Any]
CHECKPOINTS_DDL: Final = (
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS_TABLE} "
    "(name TEXT PRIMARY KEY, position INTEGER NOT NULL, updated_at REAL NOT NULL)"
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _dicts(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


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


class Reads:
    """Query helpers over one connection (rows come back as dicts)."""

    __slots__ = ()

    def _connection(self) -> sqlite3.Connection:
        raise NotImplementedError

    def fetch_all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """Every row of a query, as dicts."""
        return _dicts(self._connection().execute(sql, params))

    def fetch_one(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        """The first row of a query as a dict, or None."""
        cursor = self._connection().execute(sql, params)
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            return None
        return dict(zip([d[0] for d in cursor.description], row, strict=True))

    def fetch_value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None."""
        row = self._connection().execute(sql, params).fetchone()
        return None if row is None else row[0]


class SQLiteTransaction(Reads):
    """What projection handlers write through: one open transaction.

    It has ``execute``, ``executemany``, ``script`` and the ``fetch_*``
    helpers, but no commit: the unit of work commits, with the checkpoint.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _connection(self) -> sqlite3.Connection:
        return self._conn

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement."""
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> sqlite3.Cursor:
        """Run one statement for each parameter row."""
        return self._conn.executemany(sql, rows)

    def script(self, sql: str) -> None:
        """Run several statements (e.g. a schema), inside the transaction."""
        for statement in split_script(sql):
            self._conn.execute(statement)


class Snapshot(Reads):
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _connection(self) -> sqlite3.Connection:
        return self._conn


def copy_objects(conn: sqlite3.Connection) -> None:
    """Replace main's copies of the tables (and their indexes, triggers, views)
    found in the attached ``fresh`` database; part of the swap transaction."""
    objects = conn.execute(
        "SELECT type, name, sql FROM fresh.sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name != ? "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END",
        (CHECKPOINTS_TABLE,),
    ).fetchall()
    for kind, name, _ in objects:
        if kind in ("table", "view"):
            conn.execute(f"DROP {kind.upper()} IF EXISTS main.{_quote(name)}")
    for kind, name, sql in objects:
        conn.execute(sql)
        if kind == "table":
            conn.execute(f"INSERT INTO main.{_quote(name)} SELECT * FROM fresh.{_quote(name)}")
