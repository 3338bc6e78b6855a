"""The SQLite store backend: an embedded, durable event store in one file.

``open_store("sqlite:///events.db")`` (relative to the working folder) or
``open_store("sqlite:////var/lib/app/events.db")`` (absolute). URL options:

- ``durability``: ``full`` (default: every commit is on disk when the append
  returns) or ``normal`` (faster; a power cut may lose the last commits, never
  corrupt the file);
- ``busy_timeout``: seconds to wait for another process's write lock before
  :class:`StoreBusyError` (default 5);
- ``max_event_bytes``: size limit of one encoded event (default 1 MiB);
  ``max_append_events`` and ``max_append_bytes``: most events and encoded
  bytes of one append (default 10,000 and 64 MiB);
- ``readers``: reader connections, each on its own thread (default 2);
- ``inline_rows``: rows a read may take on the event loop's own thread
  (default 64; 0: every read on a reader thread), see :mod:`.inline`.

The file is in WAL mode. All writes of a process go through one writer thread
that runs the appends queued meanwhile in one transaction (group commit, see
:mod:`eventflux._internal.sqlite_writer`); reads run on a small pool of reader
connections and never wait for the writer (small ones, most of them, run on
the event loop's thread: :mod:`.inline`). Several processes may share one
file; subscriptions notice commits of other connections through a
:class:`~.watcher.CommitWatcher`.

Example::

    async with await open_store("sqlite:///bank.db?durability=normal") as store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})])
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Self, TypeVar
from urllib.parse import SplitResult

from ..._internal.sqlite import connect, translate_error
from ..._internal.sqlite_writer import (
    STORE_GATHER,
    SQLiteWriter,
    acquire_writer,
    release_writer,
)
from ..._internal.urls import (
    choice_option,
    float_option,
    int_option,
    reject_unknown_options,
    sqlite_path,
)
from ...codec import Codec
from ...events import AppendResult, RecordedEvent
from ...exceptions import ConfigurationError, StoreClosedError
from ..backend import AppendBatch, LogPage, StoreBackend, StoredSnapshot
from ..types import StreamLimits
from . import reads, writes
from .backup import write_backup
from .inline import DECLINED, DEFAULT_ROWS, Declined, InlineReads
from .schema import ERRORS, prepare_file
from .watcher import CommitWatcher

__all__ = ["SQLiteStoreBackend"]

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT: Final = 5.0
# Reader threads (each with its connection). Every thread hands the GIL around:
# the bank benchmark ran 1,580 commands/s with 4, 1,950 with 2 and 2,130 with 1
# on 2 cores. Two keep one slow read from holding up the others.
DEFAULT_READERS: Final = 2
_SYNCHRONOUS: Final = {"full": "FULL", "normal": "NORMAL"}


class SQLiteStoreBackend(StoreBackend):
    """Events in a SQLite file (WAL, group commit, many processes).

    Open it with :func:`eventflux.open_store`; see the module documentation
    for the URL options.
    """

    system = "sqlite"
    #: Events per round trip to a reader thread (read_all, subscribe, read):
    #: fewer thread hand-offs than the default, still a bounded amount of memory.
    page_size = 1024

    def __init__(
        self,
        path: str,
        *,
        durability: str = "full",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        readers: int = DEFAULT_READERS,
        inline_rows: int = DEFAULT_ROWS,
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise ConfigurationError(f"durability must be 'full' or 'normal', not {durability!r}")
        # absolute, so that connections opened later find the same file
        self.path = os.path.abspath(path)
        self.durability = durability
        self.busy_timeout = busy_timeout
        #: The file's writer in this process (shared with the other stores on it),
        #: while the backend is open.
        self.writer: SQLiteWriter | None = None
        #: Wakes this store's subscriptions for commits made by other connections.
        self.watcher = CommitWatcher(self.path)
        self._reader_count = readers
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._store_id = ""
        self._inline = InlineReads(inline_rows, self._inline_connection)

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str], *, create: bool = True) -> Self:
        """The store in the file that ``url`` names (created on first use, unless
        ``create`` is False)."""
        path = sqlite_path(url)
        durability = choice_option(options, "durability", "full", ("full", "normal"))
        busy = float_option(options, "busy_timeout", DEFAULT_BUSY_TIMEOUT)
        readers = int_option(options, "readers", DEFAULT_READERS)
        inline_rows = int_option(options, "inline_rows", DEFAULT_ROWS, minimum=0)
        reject_unknown_options(options, "sqlite")
        backend = cls(
            path, durability=durability, busy_timeout=busy, readers=readers, inline_rows=inline_rows
        )
        await asyncio.to_thread(backend._start, create)
        return backend

    def _start(self, create: bool = True) -> None:
        self._store_id = prepare_file(self.path, self.busy_timeout, create=create)
        self.writer = acquire_writer(
            self.path,
            synchronous=_SYNCHRONOUS[self.durability],
            busy_timeout=self.busy_timeout,
            errors=ERRORS,
            gather=STORE_GATHER,
        )
        self._readers = ThreadPoolExecutor(
            self._reader_count, thread_name_prefix="eventflux-sqlite-reader"
        )

    async def close(self) -> None:
        self._closed = True
        await self.watcher.close()
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        writer, self.writer = self.writer, None
        if writer is not None:
            release_writer(writer)

    # -- plumbing -----------------------------------------------------------------------
    async def _write(self, job: Callable[[sqlite3.Connection, int, bool], T]) -> T:
        """Run ``job(conn, now_us, careful)`` in the writer's next transaction."""
        writer = self.writer
        if writer is None or self._closed:
            raise StoreClosedError("the event store is closed")
        result: T = await writer.submit(job)
        return result

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = connect(self.path, self.busy_timeout)
                conn.execute("PRAGMA query_only = 1")
            except sqlite3.Error as e:
                raise translate_error(e, self.path, self.busy_timeout, ERRORS) from e
            with self._connections_lock:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _inline_connection(self) -> sqlite3.Connection:
        """A reader connection for the event loop's thread: it never waits for a lock."""
        conn = connect(self.path, 0.0)
        conn.execute("PRAGMA query_only = 1")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _read_inline(self, fn: Callable[..., T], *args: Any) -> T | Literal[Declined.DECLINED]:
        """``fn(connection, *args)`` on this thread (:data:`DECLINED`: the file is busy)."""
        if self._closed:
            raise StoreClosedError("the event store is closed")
        try:
            return self._inline.run(fn, *args)
        except (sqlite3.Error, OverflowError) as e:
            raise translate_error(e, self.path, self.busy_timeout, ERRORS) from e

    async def _read_small(self, fn: Callable[..., T], *args: Any) -> T:
        """A read of a row or two: inline unless paused or busy."""
        if self._inline.limit(1):
            result = self._read_inline(fn, *args)
            if result is not DECLINED:
                return result
        return await self._read(fn, *args)

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(self._reader(), *args)
        except (sqlite3.Error, OverflowError) as e:
            raise translate_error(e, self.path, self.busy_timeout, ERRORS) from e

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(reader_connection, *args)`` on a reader thread."""
        if self._closed or self._readers is None:
            raise StoreClosedError("the event store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._call, fn, args)

    # -- writing ------------------------------------------------------------------------
    async def append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        results = await self._write(writes.AppendJob(batches))
        self.watcher.appended()
        return results

    async def delete_stream(self, stream: str, *, hard: bool) -> None:
        await self._write(lambda conn, now, _: writes.delete_stream(conn, stream, hard, now))

    async def set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        await self._write(lambda conn, now, _: writes.set_stream_limits(conn, stream, limits, now))

    async def save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        await self._write(
            lambda conn, now, _: writes.save_snapshot(
                conn, stream, version, type_name, data, schema_version, now
            )
        )

    # -- reading ------------------------------------------------------------------------
    @staticmethod
    def _stream_page(conn: sqlite3.Connection, codec: Codec, *args: Any) -> list[RecordedEvent]:
        return reads.decode_rows(codec, reads.read_stream_page(conn, *args))

    async def read_stream_page(
        self,
        stream: str,
        start: int | None,
        limit: int,
        *,
        backwards: bool,
        as_of: datetime | None,
        now: datetime,
        codec: Codec,
    ) -> list[RecordedEvent]:
        as_of_us = None if as_of is None else reads.micros(as_of)
        now_us = reads.micros(now)

        def page(first: int | None, n: int) -> tuple[Any, ...]:
            return (codec, stream, first, backwards, n, as_of_us, now_us)

        inline = self._inline.limit(limit)
        if inline:
            events = self._read_inline(self._stream_page, *page(start, inline))
            if events is not DECLINED:
                after = events[-1].version + (-1 if backwards else 1) if events else 0
                if len(events) < inline or inline == limit or after < 1:
                    return events
                # a long stream: the rest of the page on a reader thread
                return events + await self._read(self._stream_page, *page(after, limit - inline))
        return await self._read(self._stream_page, *page(start, limit))

    @staticmethod
    def _log_page(
        conn: sqlite3.Connection,
        codec: Codec,
        after: int,
        limit: int,
        types: tuple[str, ...] | None,
        prefix: str | None,
        correlation_id: str | None,
    ) -> LogPage:
        events, head = reads.read_all_page(conn, codec, after, limit, types, prefix, correlation_id)
        if len(events) >= limit:
            return LogPage(events, events[-1].position)
        return LogPage(events, max(head, after))

    async def read_all_page(
        self,
        after: int,
        limit: int,
        *,
        types: tuple[str, ...] | None,
        prefix: str | None,
        codec: Codec,
        correlation_id: str | None = None,
    ) -> LogPage:
        """One page of the global log. SQLite serialises writers and positions are
        assigned under the write lock, so the head of the same read transaction
        is a safe mark: no event at or below it can become visible later."""
        inline = self._inline.limit(limit)
        if inline:
            page = self._read_inline(
                self._log_page, codec, after, inline, types, prefix, correlation_id
            )
            if page is not DECLINED:
                if len(page.events) < inline or inline == limit:
                    return page
                # a long page: the rest on a reader thread
                rest = await self._read(
                    self._log_page, codec, page.mark, limit - inline, types, prefix, correlation_id
                )
                return LogPage(page.events + rest.events, rest.mark)
        return await self._read(self._log_page, codec, after, limit, types, prefix, correlation_id)

    async def stream_version(self, stream: str) -> int:
        v = await self._read_small(
            reads.scalar, "SELECT version FROM eventflux_streams WHERE name = ?", (stream,)
        )
        return 0 if v is None else int(v)

    async def last_position(self) -> int:
        v = await self._read_small(reads.scalar, "SELECT max(position) FROM eventflux_events")
        return 0 if v is None else int(v)

    async def head_position(self) -> int:
        v = await self._read_small(
            reads.scalar, "SELECT seq FROM sqlite_sequence WHERE name = 'eventflux_events'"
        )
        return 0 if v is None else int(v)

    async def streams(self, prefix: str) -> list[str]:
        return await self._read(reads.stream_names, prefix)

    async def stream_limits(self, stream: str) -> StreamLimits:
        return await self._read(reads.stream_limits, stream)

    async def store_id(self) -> str:
        """The id recorded in the file when the store was created."""
        return self._store_id

    async def load_snapshot(self, stream: str) -> StoredSnapshot | None:
        def load(conn: sqlite3.Connection) -> StoredSnapshot | None:
            rows = conn.execute(
                "SELECT version, type, data, schema_version, recorded_at "
                "FROM eventflux_snapshots WHERE stream = ?",
                (stream,),
            ).fetchall()
            if not rows:
                return None
            version, type_name, data, schema, at = rows[0]
            return StoredSnapshot(
                version, type_name, bytes(data), schema, reads.EPOCH + timedelta(microseconds=at)
            )

        return await self._read_small(load)

    # -- backups ------------------------------------------------------------------------
    async def backup(self, dest: str) -> int:
        """Copy the file with SQLite's online backup API (see :mod:`.backup`)."""
        if self._closed:
            raise StoreClosedError("the event store is closed")
        return await asyncio.to_thread(write_backup, self.path, dest, self.busy_timeout)

    # -- live subscriptions -------------------------------------------------------------
    async def start_waiting(self, wake: Callable[[], None]) -> float | None:
        """Have the watcher wake the subscription for other connections' commits."""
        self.watcher.enter(wake)
        return None

    def stop_waiting(self) -> None:
        self.watcher.leave()
