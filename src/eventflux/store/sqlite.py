"""Embedded, durable event store in one SQLite file.

``open_store("sqlite:///events.db")`` (relative to the working folder) or
``open_store("sqlite:////var/lib/app/events.db")`` (absolute). URL options:

- ``durability``: ``full`` (default: every commit is on disk when the append
  returns) or ``normal`` (faster; a power cut may lose the last commits, never
  corrupt the file);
- ``busy_timeout``: seconds to wait for another process's write lock before
  :class:`StoreBusyError` (default 5);
- ``max_event_bytes``: size limit of one encoded event (default 1 MiB);
- ``readers``: reader connections, each on its own thread (default 4).

The file is in WAL mode. All writes of a process go through one writer thread
that runs the appends queued meanwhile in one transaction (group commit);
reads run on a small pool of reader connections and never wait for the
writer. Several processes may share one file; subscribers notice commits of
other connections by checking ``PRAGMA data_version`` every 10 ms while they
wait (a store without waiting subscribers does not check).

Example::

    async with await open_store("sqlite:///bank.db?durability=normal") as store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})])
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Final, Self, TypeVar
from urllib.parse import SplitResult

from .._internal.urls import (
    choice_option,
    float_option,
    int_option,
    reject_unknown_options,
    sqlite_path,
)
from ..codec import Codec
from ..events import AppendResult, RecordedEvent
from ..exceptions import ConfigurationError, StoreClosedError
from . import _sqlite_read as rd
from . import _sqlite_write as wr
from ._sqlite_schema import connect, prepare_file, translate_error
from ._sqlite_writer import Writer, acquire_writer, release_writer
from .base import DEFAULT_MAX_EVENT_BYTES, AppendBatch, EventStore, StreamLimits

__all__ = ["SQLiteEventStore"]

T = TypeVar("T")

#: How often a store with waiting subscribers checks the file for commits made
#: by other connections (other stores in this process, other processes).
WATCH_INTERVAL: Final = 0.01
#: Idle checks (no subscriber waiting) before the watcher stops.
WATCH_LINGER: Final = 50
DEFAULT_BUSY_TIMEOUT: Final = 5.0
DEFAULT_READERS: Final = 4


class SQLiteEventStore(EventStore):
    """Event store in a SQLite file (WAL, group commit, many processes).

    Open it with :func:`eventflux.open_store`; see the module documentation
    for the URL options.
    """

    #: Events per round trip to a reader thread (read_all, subscribe, read):
    #: fewer thread hand-offs than the default, still a bounded amount of memory.
    page_size = 1024

    def __init__(
        self,
        path: str,
        *,
        codec: Codec | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        durability: str = "full",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        readers: int = DEFAULT_READERS,
    ) -> None:
        super().__init__(codec=codec, max_event_bytes=max_event_bytes)
        if durability not in ("full", "normal"):
            raise ConfigurationError(f"durability must be 'full' or 'normal', not {durability!r}")
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        self._reader_count = readers
        self._writer: Writer | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._watch_conn: sqlite3.Connection | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._waiting = 0

    @classmethod
    async def _open(
        cls, url: SplitResult, options: dict[str, str], *, codec: Codec | None = None
    ) -> Self:
        path = sqlite_path(url)
        durability = choice_option(options, "durability", "full", ("full", "normal"))
        max_bytes = int_option(options, "max_event_bytes", DEFAULT_MAX_EVENT_BYTES)
        busy = float_option(options, "busy_timeout", DEFAULT_BUSY_TIMEOUT)
        readers = int_option(options, "readers", DEFAULT_READERS)
        reject_unknown_options(options, "sqlite")
        store = cls(
            path,
            codec=codec,
            max_event_bytes=max_bytes,
            durability=durability,
            busy_timeout=busy,
            readers=readers,
        )
        await asyncio.to_thread(store._start)
        return store

    def _start(self) -> None:
        # absolute, so that connections opened later find the same file
        self.path = os.path.abspath(self.path)
        prepare_file(self.path, self.busy_timeout)
        self._writer = acquire_writer(self.path, self.durability == "full", self.busy_timeout)
        self._readers = ThreadPoolExecutor(
            self._reader_count, thread_name_prefix="eventflux-sqlite-reader"
        )

    async def _close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        if self._watch_conn is not None:
            self._watch_conn.close()
            self._watch_conn = None
        writer, self._writer = self._writer, None
        if writer is not None:
            release_writer(writer)

    # -- plumbing -----------------------------------------------------------------------
    async def _write(self, fn: Callable[[sqlite3.Connection, int, bool], T]) -> T:
        writer = self._writer
        if writer is None or self._closed:
            raise StoreClosedError("the event store is closed")
        result: T = await writer.submit(fn)
        return result

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = connect(self.path, self.busy_timeout)
                conn.execute("PRAGMA query_only = 1")
            except sqlite3.Error as e:
                raise translate_error(e, self.path, self.busy_timeout) from e
            with self._connections_lock:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(self._reader(), *args)
        except sqlite3.Error as e:
            raise translate_error(e, self.path, self.busy_timeout) from e

    async def _run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(reader_connection, *args)`` on a reader thread."""
        if self._closed or self._readers is None:
            raise StoreClosedError("the event store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._call, fn, args)

    # -- writing ------------------------------------------------------------------------
    async def _append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        return await self._write(lambda conn, now, careful: wr.append(conn, batches, now, careful))

    async def _delete_stream(self, stream: str, hard: bool) -> None:
        await self._write(lambda conn, now, _: wr.delete_stream(conn, stream, hard, now))

    async def _set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        await self._write(lambda conn, now, _: wr.set_stream_limits(conn, stream, limits, now))

    async def _save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        await self._write(
            lambda conn, now, _: wr.save_snapshot(
                conn, stream, version, type_name, data, schema_version, now
            )
        )

    # -- reading ------------------------------------------------------------------------
    def _page(self, conn: sqlite3.Connection, *args: Any) -> list[RecordedEvent]:
        return rd.decode_rows(self.codec, rd.read_stream_page(conn, *args))

    def _read(
        self,
        stream: str,
        from_version: int | None,
        backwards: bool,
        limit: int | None,
        as_of: datetime | None,
    ) -> AsyncIterator[RecordedEvent]:
        as_of_us = None if as_of is None else rd.micros(as_of)
        now_us = time.time_ns() // 1000  # max_age is measured from the start of the read

        def page(start: int | None, n: int) -> Awaitable[list[RecordedEvent]]:
            return self._run_read(self._page, stream, start, backwards, n, as_of_us, now_us)

        return self._read_in_pages(page, from_version, backwards, limit)

    def _all_page(
        self,
        conn: sqlite3.Connection,
        after: int,
        limit: int,
        types: tuple[str, ...] | None,
        prefix: str | None,
    ) -> tuple[list[RecordedEvent], int]:
        events, head = rd.read_all_page(conn, self.codec, after, limit, types, prefix)
        if len(events) >= limit:
            return events, events[-1].position
        return events, max(head, after)

    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> tuple[list[RecordedEvent], int]:
        """One page of the global log. SQLite serialises writers and positions are
        assigned under the write lock, so the head of the same read transaction
        is a safe mark: no event at or below it can become visible later."""
        return await self._run_read(self._all_page, after, limit, types, prefix)

    async def _stream_version(self, stream: str) -> int:
        v = await self._run_read(
            rd.scalar, "SELECT version FROM eventflux_streams WHERE name = ?", (stream,)
        )
        return 0 if v is None else int(v)

    async def _last_position(self) -> int:
        v = await self._run_read(rd.scalar, "SELECT max(position) FROM eventflux_events")
        return 0 if v is None else int(v)

    async def _streams(self, prefix: str) -> list[str]:
        return await self._run_read(rd.stream_names, prefix)

    async def _stream_limits(self, stream: str) -> StreamLimits:
        return await self._run_read(rd.stream_limits, stream)

    async def _load_snapshot(self, stream: str) -> tuple[int, str, bytes, int, datetime] | None:
        def load(conn: sqlite3.Connection) -> tuple[int, str, bytes, int, datetime] | None:
            rows = conn.execute(
                "SELECT version, type, data, schema_version, recorded_at "
                "FROM eventflux_snapshots WHERE stream = ?",
                (stream,),
            ).fetchall()
            if not rows:
                return None
            version, type_name, data, schema, at = rows[0]
            return version, type_name, bytes(data), schema, rd.EPOCH + timedelta(microseconds=at)

        return await self._run_read(load)

    # -- live subscriptions -------------------------------------------------------------
    async def _wait_for_change(self, generation: int) -> None:
        """Wait as the base class does, while a watcher checks the file for commits
        made by other connections (other stores, other processes)."""
        self._waiting += 1
        try:
            if self._watcher is None and not self._closed:
                self._watcher = asyncio.get_running_loop().create_task(self._watch())
            await super()._wait_for_change(generation)
        finally:
            self._waiting -= 1

    def _data_version(self) -> int | None:
        """The file's change counter as this connection sees it (None: busy)."""
        try:
            conn = self._watch_conn
            if conn is None:
                # busy timeout 0: the check runs on the event loop and must never wait
                conn = self._watch_conn = connect(self.path, 0.0)
            return int(conn.execute("PRAGMA data_version").fetchall()[0][0])
        except sqlite3.Error:
            return None

    async def _watch(self) -> None:
        """While subscribers wait: every ``WATCH_INTERVAL`` seconds, wake them if
        another connection committed. Stops after ``WATCH_LINGER`` idle checks."""
        idle = 0
        try:
            last = self._data_version()
            # a commit between a subscriber's last read and this first check is
            # not seen by the counter: let every subscriber read once more
            self._notify_appended()
            while not self._closed:
                await asyncio.sleep(WATCH_INTERVAL)
                now = self._data_version()
                if now is None or now != last:
                    last = now
                    self._notify_appended()
                idle = 0 if self._waiting else idle + 1
                if idle >= WATCH_LINGER:
                    break
        finally:
            if self._watcher is asyncio.current_task():
                self._watcher = None
