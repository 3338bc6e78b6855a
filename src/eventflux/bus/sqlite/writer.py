"""The writer thread of the SQLite bus: one connection, group commit.

Every database operation of a bus handle is a function queued to this
thread. The thread takes everything queued (up to :data:`MAX_BATCH`) and runs
it in one ``BEGIN IMMEDIATE ... COMMIT``, then resolves the callers' futures
with one hop to the event loop. Under load, hundreds of publishes, fetches and
acks share one transaction and one fsync. If a batch fails, its operations are
retried one by one so that one bad operation fails alone.

When idle it polls ``PRAGMA data_version`` every ``poll_interval`` seconds: it
changes when another connection (another process) commits, and the bus then
wakes its members. Commits made in this process wake them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ...exceptions import BusError, BusUnavailableError

__all__ = ["MAX_BATCH", "Writer"]

log = logging.getLogger("eventflux.bus")

#: Operations per transaction at most.
MAX_BATCH: Final = 2048
#: Seconds between housekeeping runs (expired dedup ids, old inbox records).
HOUSEKEEPING_EVERY: Final = 5.0


class _Op:
    __slots__ = ("args", "fn", "future", "wakes")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        future: asyncio.Future[Any],
        wakes: bool,
    ) -> None:
        self.fn = fn
        self.args = args
        self.future = future
        self.wakes = wakes


def _translate(path: str, e: sqlite3.Error) -> BusError:
    if isinstance(e, sqlite3.OperationalError):
        return BusUnavailableError(f"SQLite bus {path!r}: {e}")
    return BusError(f"SQLite bus {path!r}: {e}")


def _settle(ops: list[_Op], results: list[Any]) -> None:
    for op, result in zip(ops, results, strict=True):
        fut = op.future
        if fut.done():
            continue
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)


class Writer:
    """Runs operations on one SQLite connection in a background thread."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        path: str,
        *,
        loop: asyncio.AbstractEventLoop,
        on_commit: Callable[[], None],
        on_external_change: Callable[[], None],
        housekeeping: Callable[[sqlite3.Connection], None],
        poll_interval: float,
    ) -> None:
        self._connect = connect
        self.path = path
        self._loop = loop
        self._on_commit = on_commit
        self._on_external_change = on_external_change
        self._housekeeping = housekeeping
        self._poll_interval = poll_interval
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main, name=f"eventflux-bus:{path}", daemon=True
        )
        self._stopped = False

    async def start(self) -> None:
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self._error is not None:
            raise self._error

    def submit(
        self, fn: Callable[..., Any], *args: Any, wakes: bool = False
    ) -> asyncio.Future[Any]:
        """Queue ``fn(conn, *args)``; the future gets its result after the commit."""
        fut = self._loop.create_future()
        if self._stopped:
            fut.set_exception(BusUnavailableError(f"SQLite bus {self.path!r} is closed"))
            return fut
        self._queue.put(_Op(fn, args, fut, wakes))
        return fut

    async def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # -- the thread --------------------------------------------------------------------
    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as e:
            self._error = e
            self._started.set()
            return
        self._started.set()
        try:
            self._serve(conn)
        except BaseException as e:  # a bug or a broken database: fail everyone waiting
            log.exception("SQLite bus %r: the writer thread stopped", self.path)
            self._stopped = True
            self._fail_pending(e)
        finally:
            conn.close()

    def _fail_pending(self, cause: BaseException) -> None:
        error = BusUnavailableError(f"SQLite bus {self.path!r} stopped: {cause}")
        ops: list[_Op] = []
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            if op is not None:
                ops.append(op)
        if ops:
            self._call(_settle, ops, [error] * len(ops))

    def _serve(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        last_poll = last_housekeeping = time.monotonic()
        running = True
        while running:
            first: _Op | object | None
            try:
                first = self._queue.get(timeout=self._poll_interval)
            except queue.Empty:
                first = _IDLE
            if first is not _IDLE:
                ops, running = self._drain(first)
                if ops:
                    self._run(conn, ops)
            now = time.monotonic()
            if now - last_poll >= self._poll_interval:
                last_poll = now
                try:
                    current = conn.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error as e:
                    log.warning("SQLite bus %r: polling failed: %s", self.path, e)
                    current = version
                if current != version:
                    version = current
                    self._call(self._on_external_change)
            if now - last_housekeeping >= HOUSEKEEPING_EVERY:
                last_housekeeping = now
                self._housekeep(conn)

    def _drain(self, first: _Op | object | None) -> tuple[list[_Op], bool]:
        """The queued operations for one batch, and False once the sentinel came."""
        ops: list[_Op] = []
        op = first
        while True:
            if op is None:
                return ops, False
            assert isinstance(op, _Op)
            ops.append(op)
            if len(ops) >= MAX_BATCH:
                return ops, True
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                return ops, True

    def _housekeep(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._housekeeping(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.warning("SQLite bus %r: housekeeping failed: %s", self.path, e)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self._loop.call_soon_threadsafe(fn, *args)

    def _run(self, conn: sqlite3.Connection, ops: list[_Op]) -> None:
        if len(ops) == 1:
            self._run_one(conn, ops[0])
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [op.fn(conn, *op.args) for op in ops]
            conn.execute("COMMIT")
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for op in ops:  # find the culprit: each alone
                self._run_one(conn, op)
            return
        self._finish(ops, results)

    def _run_one(self, conn: sqlite3.Connection, op: _Op) -> None:
        result: Any
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = op.fn(conn, *op.args)
            conn.execute("COMMIT")
        except Exception as e:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            result = _translate(self.path, e) if isinstance(e, sqlite3.Error) else e
        self._finish([op], [result])

    def _finish(self, ops: list[_Op], results: list[Any]) -> None:
        self._call(_settle, ops, results)
        if any(op.wakes for op in ops):
            self._on_commit()


_IDLE: Final = object()
