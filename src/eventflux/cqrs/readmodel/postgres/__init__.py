"""The PostgreSQL read-model backend (``postgresql://user@host/db?schema=read``):
see :mod:`.backend`. Needs the ``postgres`` extra (psycopg)."""

from __future__ import annotations

from .backend import PostgresReadModelBackend
from .placeholders import to_pyformat
from .swap import scratch_schema

__all__ = ["PostgresReadModelBackend", "scratch_schema", "to_pyformat"]
