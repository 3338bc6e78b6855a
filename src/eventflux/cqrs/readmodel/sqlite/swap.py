"""The swap of a SQLite rebuild: copy the rebuilt tables into the live file.

The rebuild's scratch file is ATTACHed to the live one as ``fresh``; inside
the swap's transaction, :func:`copy_objects` drops the live copies of the
tables and views the scratch file holds and recreates them (indexes and
triggers too) with their rows. Other tables of the live file stay.

Example::

    conn.execute("ATTACH DATABASE ? AS fresh", (scratch_path,))
    conn.execute("BEGIN IMMEDIATE")
    copy_objects(conn)
"""

from __future__ import annotations

import sqlite3

from ..backend import CHECKPOINTS_TABLE

__all__ = ["copy_objects", "quote"]


def quote(name: str) -> str:
    """A SQLite identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


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
            conn.execute(f"DROP {kind.upper()} IF EXISTS main.{quote(name)}")
    for kind, name, sql in objects:
        conn.execute(sql)
        if kind == "table":
            conn.execute(f"INSERT INTO main.{quote(name)} SELECT * FROM fresh.{quote(name)}")
