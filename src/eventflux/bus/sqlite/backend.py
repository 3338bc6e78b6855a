"""The SQLite message bus: durable, embedded, shared by the processes of one machine.

``open_bus("sqlite:///bus.db")`` (relative) or ``sqlite:////var/lib/app/bus.db``
(absolute). Every process that opens the file is a peer: members of one group
compete for its messages through leases that expire after ``ack_wait``, so the
work of a crashed process comes back. Writes go through the handle's
group-commit writer (:class:`eventflux._internal.sqlite_writer.SQLiteWriter`, see
:mod:`.context`); members are woken at once by commits of this process and
within ``poll_interval`` by those of others (``PRAGMA data_version``).

The file holds the bus and nothing else: a file with other tables is refused
and left unchanged (:mod:`.schema`). SQLite trouble raises the bus's errors,
of the same kinds as the event store's: :class:`~eventflux.BusUnavailableError`
(cannot open, disk full, I/O error), :class:`~eventflux.BusBusyError` (locked
past ``busy_timeout``), :class:`~eventflux.NotABusError` (not a bus file).

URL options: ``dedup_window`` (seconds, default 120), ``durability``
(``full`` = fsync each commit, the default; ``normal`` = survive a process
crash, maybe not a power loss; ``off``), ``busy_timeout`` (seconds, default
10), ``poll_interval`` (seconds, default 0.01), ``inbox_retention`` (seconds
the ids of handled messages are kept for ``idempotent=True``, default 7 days).

Example::

    async with await open_bus("sqlite:///bus.db?durability=normal") as bus:
        await bus.publish_many([("metrics.cpu", {"v": v}) for v in range(1000)])
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, Self, TypeVar
from urllib.parse import SplitResult

from ..._internal.sqlite import connect, translate_error
from ..._internal.sqlite_writer import SQLiteWriter
from ..._internal.urls import float_option, reject_unknown_options, sqlite_path
from ...events import uuid7
from ...exceptions import ConfigurationError
from ...resilience.inbox import DEFAULT_RETENTION, Inbox
from ..backend import (
    DEFAULT_DEDUP_WINDOW,
    BusBackend,
    Envelope,
    GroupStats,
    KeyOrder,
    MemberHandle,
    Revoke,
    StoredLetter,
)
from ..subscription import check_seconds
from .context import SQLiteContext
from .inbox import SQLiteBusInbox
from .member import SQLiteMember
from .ops import Ops
from .schema import ERRORS, prepare_file
from .stats import group_stats

__all__ = ["SQLiteBusBackend"]

T = TypeVar("T")

_SYNC: Final = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}


class SQLiteBusBackend(BusBackend):
    """A durable bus in one SQLite file (WAL mode). Build it inside a running
    event loop (its writer thread answers on that loop)."""

    durable: bool = True
    key_order: KeyOrder = KeyOrder.BACKEND

    def __init__(
        self,
        path: str,
        *,
        dedup_window: float = DEFAULT_DEDUP_WINDOW,
        durability: str = "full",
        busy_timeout: float = 10.0,
        poll_interval: float = 0.01,
        inbox_retention: float = DEFAULT_RETENTION,
    ) -> None:
        if durability not in _SYNC:
            raise ConfigurationError(f"durability={durability!r} is not one of {', '.join(_SYNC)}")
        self.dedup_window = check_seconds("dedup_window", dedup_window)
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self.inbox_retention = inbox_retention
        self._ops = Ops()
        key = os.path.realpath(path)
        self._ctx = SQLiteContext(self._ops, key, inbox_retention=inbox_retention)
        #: Groups known to exist in the file (their start point is fixed).
        self._declared: set[tuple[str, str]] = set()
        self._declare_conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str]) -> Self:
        backend = cls(
            sqlite_path(url),
            dedup_window=float_option(options, "dedup_window", DEFAULT_DEDUP_WINDOW),
            durability=options.pop("durability", "full").lower(),
            busy_timeout=float_option(options, "busy_timeout", 10.0),
            poll_interval=float_option(options, "poll_interval", 0.01),
            inbox_retention=float_option(options, "inbox_retention", DEFAULT_RETENTION),
        )
        reject_unknown_options(options, "sqlite")
        await backend.start()
        return backend

    def _start(self) -> None:
        prepare_file(self.path, self.busy_timeout)
        self._ctx.start(
            self.path,
            synchronous=_SYNC[self.durability],
            busy_timeout=self.busy_timeout,
            poll=self.poll_interval,
        )

    async def start(self) -> None:
        """Prepare the file (create or check the tables) and start the writer."""
        await asyncio.to_thread(self._start)
        self._ctx.register()

    async def close(self) -> None:
        self._ctx.unregister()
        for event in self._ctx.wakeups:
            event.set()
        conn, self._declare_conn = self._declare_conn, None
        if conn is not None:
            conn.close()
        await asyncio.to_thread(self._ctx.stop)

    @property
    def writer(self) -> SQLiteWriter:
        """The handle's group-commit writer (every statement of the bus runs on it)."""
        writer = self._ctx.writer
        if writer is None:
            raise ERRORS.closed("the bus is closed")
        return writer

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in the writer's next transaction and return its
        result (for tools and tests that look into the file).

        Example::

            count = await backend.run(lambda conn: conn.execute(
                "SELECT count(*) FROM bus_queue").fetchone()[0])
        """
        result: T = await self._ctx.submit(fn, *args)
        return result

    # -- publishing and consuming -------------------------------------------------------
    async def publish(self, envelopes: Sequence[Envelope]) -> list[bool]:
        return await self._ctx.publish(envelopes, self.dedup_window)

    def declare(self, group: str, pattern: str) -> None:
        """Create the group in the file now unless it exists (a short read; the first
        time a write of its own, on this thread: publishes of every process see
        the group once it returns)."""
        if (group, pattern) in self._declared:
            return
        if self._ctx.writer is None:
            raise ERRORS.closed("the bus is closed")
        try:
            conn = self._declare_conn
            if conn is None:
                conn = self._declare_conn = connect(self.path, self.busy_timeout)
                conn.execute(f"PRAGMA synchronous = {_SYNC[self.durability]}")
            if Ops.group_id(conn, group, pattern) is None:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    Ops.create_group(conn, group, pattern)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as e:
            raise translate_error(e, self.path, self.busy_timeout, ERRORS) from e
        self._declared.add((group, pattern))

    async def join(
        self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
    ) -> MemberHandle:
        owner = str(uuid7())
        gid: int = await self._ctx.submit(Ops.join, group, pattern, owner)
        return SQLiteMember(self._ctx, gid, owner=owner, ack_wait=ack_wait)

    # -- dead letters -------------------------------------------------------------------
    async def list_letters(self, group: str | None) -> list[StoredLetter]:
        rows = await self._ctx.submit(Ops.dlq_list, group)
        return [StoredLetter(*row) for row in rows]

    async def retry_letter(self, letter_id: str) -> bool:
        found: bool = await self._ctx.submit(self._ops.dlq_retry, letter_id, wakes=True)
        return found

    async def purge_letters(self, group: str | None) -> int:
        count: int = await self._ctx.submit(Ops.dlq_purge, group)
        return count

    # -- introspection ------------------------------------------------------------------
    async def group_stats(self) -> list[GroupStats]:
        return await asyncio.to_thread(self._read_stats)

    def _read_stats(self) -> list[GroupStats]:
        """Read on a connection of its own (a long backlog never holds the writer up)."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                return group_stats(conn, time.time())
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise translate_error(e, self.path, self.busy_timeout, ERRORS) from e

    # -- inbox and checkpoints ----------------------------------------------------------
    def inbox(self) -> Inbox:
        return SQLiteBusInbox(self._ctx)

    async def load_checkpoint(self, name: str) -> int | None:
        value: int | None = await self._ctx.submit(Ops.load_checkpoint, name)
        return value

    async def save_checkpoint(self, name: str, value: int) -> None:
        await self._ctx.submit(Ops.save_checkpoint, name, value)
