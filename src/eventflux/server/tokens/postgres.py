"""Tokens in a table of the PostgreSQL database that holds the event store:
``eventflux_tokens.<schema>``, a table named after the store URL's ``schema``
(default ``eventflux``) in a schema of its own, so that the store's schema
holds nothing but the store.

Example::

    tokens = await PostgresTokenStore.open("postgresql://app@db/shop?schema=orders")
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..._internal.urls import parse_url
from ...exceptions import ConfigurationError, MissingExtraError
from .base import TokenStore
from .model import TokenRecord
from .sqlite import row_record

__all__ = ["PostgresTokenStore"]

#: the store's own URL options; everything else goes to libpq
_STORE_OPTIONS: Final = frozenset(
    {"schema", "pool_min", "pool_max", "wait_timeout", "poll_interval", "max_event_bytes"}
)
_SCHEMA_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: the schema holding one token table per store schema
_TOKENS_SCHEMA: Final = "eventflux_tokens"


def _races() -> tuple[type[Exception], ...]:
    try:
        from psycopg import errors
    except ImportError:  # pragma: no cover - without the extra, nothing to catch
        return ()
    return (errors.UniqueViolation, errors.DuplicateObject, errors.DuplicateTable)


_RACES: Final = _races()


class PostgresTokenStore(TokenStore):
    """A token store in PostgreSQL; one connection, opened again after a failure."""

    def __init__(self, conninfo: str, schema: str) -> None:
        self._conninfo = conninfo
        self._table = f'{_TOKENS_SCHEMA}."{schema}"'
        self._schema = schema
        self._conn: Any = None
        self._lock = asyncio.Lock()
        parts = urlsplit(conninfo)
        self.location = f"table {_TOKENS_SCHEMA}.{schema} on {parts.hostname or 'localhost'}"

    @classmethod
    async def open(cls, url: str) -> PostgresTokenStore:
        """Open the token table of the database named by a store URL (created if missing)."""
        parts, options = parse_url(url)
        schema = options.get("schema", "eventflux")
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigurationError(f"URL option schema={schema!r} is not a plain identifier")
        libpq = {k: v for k, v in options.items() if k not in _STORE_OPTIONS}
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(libpq), ""))
        store = cls(conninfo, schema)
        create = (
            f"CREATE SCHEMA IF NOT EXISTS {_TOKENS_SCHEMA};"
            f"CREATE TABLE IF NOT EXISTS {store._table} ("
            "id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, scope TEXT NOT NULL, "
            "prefix TEXT NOT NULL, name TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "revoked_at DOUBLE PRECISION)"
        )
        try:
            await store._execute(create, (), fetch=False)
        except _RACES:  # another process created them at the same moment
            await store._execute(create, (), fetch=False)
        return store

    async def _connection(self) -> Any:
        try:
            import psycopg
        except ImportError as e:
            raise MissingExtraError("tokens in PostgreSQL", "postgres", "psycopg") from e
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=10
                )
            except psycopg.Error as e:
                raise ConfigurationError(f"cannot reach the token table: {e}") from e
        return self._conn

    async def _execute(self, sql: str, args: tuple[Any, ...], *, fetch: bool) -> Any:
        import psycopg

        async with self._lock:
            conn = await self._connection()
            try:
                cur = await conn.execute(sql, args)
                return await cur.fetchall() if fetch else cur.rowcount
            except psycopg.OperationalError as e:
                await conn.close()
                self._conn = None
                raise ConfigurationError(f"the token table is unavailable: {e}") from e

    async def _insert(self, record: TokenRecord) -> None:
        i = record.info
        await self._execute(
            f"INSERT INTO {self._table} VALUES (%s, %s, %s, %s, %s, %s, NULL)",
            (i.id, record.secret_hash, i.scope.value, i.prefix, i.name, i.created_at.timestamp()),
            fetch=False,
        )

    async def _records(self) -> list[TokenRecord]:
        rows = await self._execute(
            "SELECT id, secret_hash, scope, prefix, name, created_at, revoked_at "
            f"FROM {self._table} ORDER BY created_at, id",
            (),
            fetch=True,
        )
        return [row_record(tuple(r)) for r in rows]

    async def _revoke(self, token_id: str, when: datetime) -> bool:
        count = await self._execute(
            f"UPDATE {self._table} SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
            (when.timestamp(), token_id),
            fetch=False,
        )
        return bool(count)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
