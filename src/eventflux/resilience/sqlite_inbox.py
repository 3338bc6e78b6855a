"""The SQLite inbox: handled ids in the same database (and transaction) as a
read model, so a handler's writes and its inbox record commit together."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from .._internal.sqlite import switch_to_wal
from .._internal.urls import sqlite_path
from ..exceptions import BusUnavailableError
from ..signals import AlreadyHandled
from .inbox import DEFAULT_RETENTION, HandledMessage, Inbox

__all__ = ["SQLiteInbox"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    grp TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    handled_at REAL NOT NULL,
    PRIMARY KEY (grp, msg_id)
) WITHOUT ROWID
"""


class SQLiteInbox(Inbox):
    """An inbox table in a SQLite database, usually the one of your read model.

    ``transaction(msg)`` opens a write transaction, refuses a message handled
    before (:class:`AlreadyHandled`), gives you the connection for your own
    writes and commits them together with the inbox record.
    """

    def __init__(
        self,
        url_or_path: str | Path,
        *,
        table: str = "eventflux_inbox",
        busy_timeout: float = 30.0,
        retention: float = DEFAULT_RETENTION,
    ) -> None:
        if not table.replace("_", "").isalnum():
            raise ValueError(f"table name {table!r} must be letters, digits and '_'")
        text = str(url_or_path)
        self.path = sqlite_path(text) if text.startswith("sqlite:") else text
        self.table = table
        self.retention = retention
        self._conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        switch_to_wal(self._conn, busy_timeout)
        self._conn.execute(_SCHEMA.format(table=table))
        self._lock = asyncio.Lock()
        self._last_purge = 0.0

    @property
    def connection(self) -> sqlite3.Connection:
        """The inbox's connection (use it only inside :meth:`transaction`)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def _begin(self, group: str, msg_id: str) -> bool:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise BusUnavailableError(f"inbox database {self.path!r} is busy: {e}") from e
        row = self._conn.execute(
            f"SELECT 1 FROM {self.table} WHERE grp = ? AND msg_id = ?", (group, msg_id)
        ).fetchone()
        if row is not None:
            self._conn.execute("ROLLBACK")
            return False
        return True

    def _commit(self, group: str, msg_id: str) -> None:
        now = time.time()
        try:
            self._conn.execute(
                f"INSERT OR REPLACE INTO {self.table} (grp, msg_id, handled_at) VALUES (?, ?, ?)",
                (group, msg_id, now),
            )
            if now - self._last_purge > 60.0:
                self._last_purge = now
                self._conn.execute(
                    f"DELETE FROM {self.table} WHERE handled_at < ?", (now - self.retention,)
                )
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def transaction(
        self, msg: HandledMessage, group: str | None = None
    ) -> AsyncIterator[sqlite3.Connection]:
        """Run your writes and the inbox record in one transaction.

        ``group`` defaults to the group the message was delivered to. Raises
        :class:`AlreadyHandled` before the body runs if the message was handled.
        """
        grp = group if group is not None else msg.group
        if grp is None:
            raise ValueError("the message has no group; pass group=...")
        async with self._lock:
            fresh = await asyncio.to_thread(self._begin, grp, msg.msg_id)
            if not fresh:
                raise AlreadyHandled(grp, msg.msg_id)
            try:
                yield self._conn
            except BaseException:
                self._rollback()
                raise
            await asyncio.to_thread(self._commit, grp, msg.msg_id)

    async def seen(self, group: str, msg_id: str) -> bool:
        async with self._lock:
            row = await asyncio.to_thread(
                lambda: self._conn.execute(
                    f"SELECT 1 FROM {self.table} WHERE grp = ? AND msg_id = ?", (group, msg_id)
                ).fetchone()
            )
        return row is not None

    async def record(self, group: str, msg_id: str) -> None:
        async with self._lock:

            def run() -> None:
                self._conn.execute("BEGIN IMMEDIATE")
                self._commit(group, msg_id)

            await asyncio.to_thread(run)
