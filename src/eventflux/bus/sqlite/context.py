"""What the members of one SQLite bus handle share (:class:`SQLiteContext`):
the writer, the SQL, one batch of publishes and one of acks per event-loop
iteration, and the members' wake-ups.

Every statement of a bus handle runs on its writer, the group-commit writer
every SQLite file of eventflux uses
(:class:`eventflux._internal.sqlite_writer.SQLiteWriter`): the operations queued
meanwhile share one transaction, each in its own savepoint. The publishes
and the acks made in one iteration of the event loop go to the writer as one
operation (one savepoint, one hop to the writer thread); if such a batch of
publishes fails, each publish runs again alone, so that only a failing one
fails. Two hooks run on
the writer's thread: after a commit that may have made messages available
(:meth:`SQLiteContext.submit` with ``wakes=True``) the members of every handle
of this process on the file wake at once; between transactions the writer
checks the file's change counter (``PRAGMA data_version``, every
``poll_interval``), which moves when another process commits, and then wakes
this handle's members; every few seconds it does the housekeeping.

Example::

    ctx = SQLiteContext(Ops(), "/var/lib/app/bus.db", inbox_retention=3600.0)
    ctx.start(path, synchronous="FULL", busy_timeout=10.0, poll_interval=0.01)
    ctx.register()                    # commits of other handles wake our members
    await ctx.ack(delivery)           # shares one writer operation with other acks
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, Final

from ..._internal.sqlite import data_version
from ..._internal.sqlite_writer import SQLiteWriter
from ..backend import Envelope
from .delivery import SQLiteDelivery
from .ops import Ops
from .schema import ERRORS

__all__ = ["HOUSEKEEPING_EVERY", "MAX_GROUP", "SQLiteContext", "notify_path"]

log = logging.getLogger("eventflux.bus")

#: Operations per transaction at most.
MAX_GROUP: Final = 2048
#: Seconds between housekeeping runs (expired dedup ids, old inbox records, members).
HOUSEKEEPING_EVERY: Final = 5.0

_registry_lock = threading.Lock()
_registry: dict[str, weakref.WeakSet[SQLiteContext]] = {}


def notify_path(key: str) -> None:
    """Wake the members of every bus handle of this process on the file ``key``."""
    with _registry_lock:
        contexts = list(_registry.get(key, ()))
    for ctx in contexts:
        ctx.notify_threadsafe()


class SQLiteContext:
    """The shared state of one bus handle's members."""

    def __init__(self, ops: Ops, key: str, *, inbox_retention: float) -> None:
        self.ops = ops
        self.key = key
        self.inbox_retention = inbox_retention
        self.loop = asyncio.get_running_loop()
        self.wakeups: set[asyncio.Event] = set()
        #: The owner tokens of this handle's members (the writer vouches for them).
        self.owners: tuple[str, ...] = ()
        self.writer: SQLiteWriter | None = None
        self._acks: list[SQLiteDelivery] = []
        self._ack_future: asyncio.Future[None] | None = None
        self._publishes: list[tuple[Sequence[Envelope], asyncio.Future[list[bool]]]] = []
        # writer thread only:
        self._woke = False
        self._version: int | None = None
        self._next_housekeeping = time.monotonic() + HOUSEKEEPING_EVERY

    # -- the writer ------------------------------------------------------------------
    def start(self, path: str, *, synchronous: str, busy_timeout: float, poll: float) -> None:
        """Start the writer (blocking: connects; call it off the event loop)."""
        self.writer = SQLiteWriter(
            path,
            synchronous=synchronous,
            busy_timeout=busy_timeout,
            errors=ERRORS,
            max_group=MAX_GROUP,
            on_commit=self._committed,
            tick=self._tick,
            tick_every=poll,
        )

    def stop(self) -> None:
        """Finish the queued operations and stop the writer (blocking)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.stop()

    def submit(
        self, fn: Callable[..., Any], *args: Any, wakes: bool = False
    ) -> asyncio.Future[Any]:
        """Run ``fn(conn, *args)`` in the writer's next transaction; ``wakes``: its
        commit may make messages available, so wake the members after it."""
        writer = self.writer
        if writer is None:
            raise ERRORS.closed("the bus is closed")
        if wakes:

            def job(conn: sqlite3.Connection, now_us: int, careful: bool) -> Any:
                self._woke = True
                return fn(conn, *args)

        else:

            def job(conn: sqlite3.Connection, now_us: int, careful: bool) -> Any:
                return fn(conn, *args)

        return writer.submit(job)

    def _committed(self, conn: sqlite3.Connection) -> None:
        if self._woke:
            self._woke = False
            notify_path(self.key)

    def _tick(self, conn: sqlite3.Connection) -> None:
        try:
            version = data_version(conn)
        except sqlite3.Error as e:
            log.warning("SQLite bus %r: polling failed: %s", self.key, e)
            return
        if version != self._version:
            if self._version is not None:  # another connection committed
                self.notify_threadsafe()
            self._version = version
        now = time.monotonic()
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + HOUSEKEEPING_EVERY
            self._housekeep(conn)

    def _housekeep(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            Ops.housekeeping(conn, self.inbox_retention, self.owners)
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.warning("SQLite bus %r: housekeeping failed: %s", self.key, e)

    # -- members ---------------------------------------------------------------------
    def register(self) -> None:
        """Let commits of other handles of this process on the same file wake us."""
        with _registry_lock:
            _registry.setdefault(self.key, weakref.WeakSet()).add(self)

    def unregister(self) -> None:
        with _registry_lock:
            peers = _registry.get(self.key)
            if peers is not None:
                peers.discard(self)
                if not peers:
                    del _registry[self.key]

    def add_owner(self, owner: str) -> None:
        self.owners = (*self.owners, owner)  # replaced whole: the writer thread reads it

    def remove_owner(self, owner: str) -> None:
        self.owners = tuple(o for o in self.owners if o != owner)

    def notify(self) -> None:
        """Wake every member (a commit may have made messages available)."""
        for event in self.wakeups:
            event.set()

    def notify_threadsafe(self) -> None:
        with suppress(RuntimeError):  # that handle's loop is closed
            self.loop.call_soon_threadsafe(self.notify)

    # -- publishes ---------------------------------------------------------------------
    async def publish(self, envelopes: Sequence[Envelope], window: float) -> list[bool]:
        """Publish: the publishes of one loop iteration share one writer operation."""
        fut: asyncio.Future[list[bool]] = self.loop.create_future()
        if not self._publishes:
            self.loop.call_soon(self._flush_publishes, window)
        self._publishes.append((envelopes, fut))
        return await fut

    def _flush_publishes(self, window: float) -> None:
        batch = [(envs, fut) for envs, fut in self._publishes if not fut.done()]
        self._publishes = []
        if len(batch) == 1:
            self._publish_alone(batch[0], window)
            return
        if not batch:
            return
        publish = self.ops.publish

        def together(conn: sqlite3.Connection) -> list[list[bool]]:
            return [publish(conn, envs, window) for envs, _ in batch]

        try:
            inner = self.submit(together, wakes=True)
        except Exception as e:  # closed meanwhile
            for _, fut in batch:
                fut.set_exception(e)
            return

        def done(f: asyncio.Future[list[list[bool]]]) -> None:
            if f.exception() is not None:  # each alone: only a failing one fails
                for item in batch:
                    if not item[1].done():
                        self._publish_alone(item, window)
                return
            for (_, fut), result in zip(batch, f.result(), strict=True):
                if not fut.done():
                    fut.set_result(result)

        inner.add_done_callback(done)

    def _publish_alone(
        self, item: tuple[Sequence[Envelope], asyncio.Future[list[bool]]], window: float
    ) -> None:
        envs, fut = item
        try:
            inner = self.submit(self.ops.publish, envs, window, wakes=True)
        except Exception as e:  # closed meanwhile
            fut.set_exception(e)
            return

        def done(f: asyncio.Future[list[bool]]) -> None:
            if fut.done():
                return
            error = f.exception()
            if error is None:
                fut.set_result(f.result())
            else:
                fut.set_exception(error)

        inner.add_done_callback(done)

    # -- acks --------------------------------------------------------------------------
    async def ack(self, delivery: SQLiteDelivery) -> None:
        """Acknowledge: the acks of one loop iteration share one writer operation."""
        fut = self._ack_future
        if fut is None:
            fut = self._ack_future = self.loop.create_future()
            self.loop.call_soon(self._flush_acks)
        self._acks.append(delivery)
        await fut

    def _flush_acks(self) -> None:
        acks, fut = self._acks, self._ack_future
        self._acks, self._ack_future = [], None
        assert fut is not None
        wakes = any(d.key is not None for d in acks)
        try:
            inner = self.submit(self.ops.ack, acks, wakes=wakes)
        except Exception as e:  # closed meanwhile
            fut.set_exception(e)
            return

        def done(f: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            error = f.exception()
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

        inner.add_done_callback(done)
