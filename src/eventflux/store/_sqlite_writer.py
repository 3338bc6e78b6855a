"""SQLite event store: the one writer of a process, with group commit.

Every write of a process to one database file goes through one connection
serviced by one thread. Requests that queue up while a transaction commits
are run together in the next transaction (group commit: one fsync for many
appends). Each request runs inside its own SAVEPOINT; when it fails, only
its savepoint is rolled back and only its caller gets the error, while the
others in the group commit.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ..exceptions import StoreClosedError
from ._sqlite_schema import connect, translate_error

__all__ = ["CarefulRetry", "Writer", "acquire_writer", "release_writer"]

#: Most requests run in one transaction.
MAX_GROUP: Final = 512

#: A request: ``fn(conn, now_us, careful)`` runs inside the group's transaction.
Request = Callable[[sqlite3.Connection, int, bool], Any]


class CarefulRetry(Exception):
    """Raised by a request run with ``careful=False`` that needs the slow path:
    the writer rolls back its savepoint and runs it again with ``careful=True``."""


class _Item:
    __slots__ = ("fn", "future", "loop")

    def __init__(
        self, fn: Request, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]
    ) -> None:
        self.fn = fn
        self.loop = loop
        self.future = future


def _deliver(items: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in items:
        if future.done():  # the caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Writer:
    """The writer thread of one database file in this process (shared by the
    stores that open that file with the same settings)."""

    def __init__(self, key: tuple[str, bool, float], path: str, full: bool, busy: float) -> None:
        self.key = key
        self.path = path
        self.busy_timeout = busy
        self.refs = 0
        #: counters for tests and benchmarks
        self.submitted = 0
        self.transactions = 0
        self.requests = 0
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._stopped = False
        try:
            self._conn = connect(path, busy)
            self._conn.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")
            self._conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as e:
            raise translate_error(e, path, busy) from e
        self._thread = threading.Thread(
            target=self._run, name=f"eventflux-sqlite-writer:{path}", daemon=True
        )
        self._thread.start()

    def pending(self) -> int:
        """Requests waiting for the next transaction."""
        return self._queue.qsize()

    def submit(self, fn: Request) -> asyncio.Future[Any]:
        """Queue ``fn`` for the writer; the future gets its result or its error."""
        if self._stopped:
            raise StoreClosedError("the event store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.submitted += 1
        self._queue.put(_Item(fn, loop, future))
        return future

    def stop(self) -> None:
        """Finish the queued requests, then end the thread and close the connection."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join()

    # -- the writer thread --------------------------------------------------------------
    def _run(self) -> None:
        q = self._queue
        try:
            while True:
                first = q.get()
                if first is None:
                    return
                group = [first]
                stop = False
                while len(group) < MAX_GROUP:
                    try:
                        item = q.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    group.append(item)
                self._run_group(group)
                if stop:
                    return
        finally:
            self._conn.close()

    def _error(self, e: BaseException) -> BaseException:
        if isinstance(e, sqlite3.Error):
            err = translate_error(e, self.path, self.busy_timeout)
            err.__cause__ = e
            return err
        return e

    def _run_group(self, group: list[_Item]) -> None:
        conn = self._conn
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            self._send(group, [(False, self._error(e)) for _ in group])
            return
        try:
            now_us = time.time_ns() // 1000
            for item in group:
                if item.future.cancelled():  # its caller gave up before it started: skip it
                    outcomes.append((False, None))
                    continue
                outcomes.append(self._run_one(conn, item.fn, now_us))
            conn.execute("COMMIT")
        except Exception as e:  # the transaction itself failed: nobody's work is stored
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            outcomes = [(False, self._error(e)) for _ in group]
        self.transactions += 1
        self.requests += len(group)
        self._send(group, outcomes)

    def _run_one(self, conn: sqlite3.Connection, fn: Request, now_us: int) -> tuple[bool, Any]:
        conn.execute("SAVEPOINT request")
        try:
            try:
                value = fn(conn, now_us, False)
            except CarefulRetry:
                conn.execute("ROLLBACK TO request")
                value = fn(conn, now_us, True)
        except Exception as e:  # this request's error: only its caller gets it
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            return False, self._error(e)
        conn.execute("RELEASE request")
        return True, value

    def _send(self, group: list[_Item], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for item, (ok, value) in zip(group, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item.future, ok, value))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, items)
            except RuntimeError:  # that event loop is closed: nobody waits any more
                pass


_registry: dict[tuple[str, bool, float], Writer] = {}
_registry_lock = threading.Lock()


def _after_fork() -> None:
    global _registry_lock
    _registry.clear()  # the parent's writer threads do not exist in a child
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def acquire_writer(path: str, full: bool, busy_timeout: float) -> Writer:
    """The process's writer for ``path`` (started on first use, reference-counted)."""
    key = (os.path.realpath(path), full, busy_timeout)
    with _registry_lock:
        writer = _registry.get(key)
        if writer is None:
            writer = _registry[key] = Writer(key, path, full, busy_timeout)
        writer.refs += 1
        return writer


def release_writer(writer: Writer) -> None:
    """Drop one reference; the last one stops the writer (blocks until it is done)."""
    with _registry_lock:
        writer.refs -= 1
        if writer.refs > 0:
            return
        if _registry.get(writer.key) is writer:
            del _registry[writer.key]
    writer.stop()
