"""Tokens in a SQLite file (mode 0600), beside the store's files.

Example::

    tokens = await SQLiteTokenStore.open(".eventflux/tokens.db")
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any, Final

from ...exceptions import ConfigurationError
from .base import TokenStore
from .model import Scope, TokenInfo, TokenRecord

__all__ = ["SQLiteTokenStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS eventflux_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
)
"""


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def row_record(row: tuple[Any, ...]) -> TokenRecord:
    """A token record from a row (id, secret_hash, scope, prefix, name, created_at, revoked_at)."""
    created = _time(row[5])
    assert created is not None
    info = TokenInfo(row[0], Scope(row[2]), row[3], row[4], created, _time(row[6]))
    return TokenRecord(info, row[1])


class SQLiteTokenStore(TokenStore):
    """A token store in one SQLite file; every call opens a short connection,
    so several processes (the server, ``eventflux token``) share the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.location = path

    @classmethod
    async def open(cls, path: str) -> SQLiteTokenStore:
        """Open (and create, with its folder) the token file at ``path``."""
        store = cls(path)
        await asyncio.to_thread(store._create)
        return store

    def version(self) -> object:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as e:
            raise ConfigurationError(f"cannot open the token file {self.path!r}: {e}") from e

    def _create(self) -> None:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        db = self._connect()
        try:
            with db:
                db.execute(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ConfigurationError(f"{self.path!r} is not a token file: {e}") from e
        finally:
            db.close()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        db = self._connect()
        try:
            with db:
                cur = db.execute(sql, args)
                rows = cur.fetchall()
                if cur.rowcount > 0 and not rows:
                    return [(cur.rowcount,)]
                return rows
        finally:
            db.close()

    async def _insert(self, record: TokenRecord) -> None:
        i = record.info
        await asyncio.to_thread(
            self._run,
            "INSERT INTO eventflux_tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (i.id, record.secret_hash, i.scope.value, i.prefix, i.name, i.created_at.timestamp()),
        )

    async def _records(self) -> list[TokenRecord]:
        rows = await asyncio.to_thread(
            self._run,
            "SELECT id, secret_hash, scope, prefix, name, created_at, revoked_at "
            "FROM eventflux_tokens ORDER BY created_at, id",
        )
        return [row_record(r) for r in rows]

    async def _revoke(self, token_id: str, when: datetime) -> bool:
        rows = await asyncio.to_thread(
            self._run,
            "UPDATE eventflux_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (when.timestamp(), token_id),
        )
        return bool(rows)
