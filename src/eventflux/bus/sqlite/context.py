"""What the members of one SQLite bus handle share (:class:`SQLiteContext`):
the writer thread, the SQL, one batch of acks per event-loop iteration and
the members' wake-ups, which commits of this process trigger at once.

Example::

    ctx = SQLiteContext(writer, Ops(), "/var/lib/app/bus.db")
    ctx.register()                    # commits of other handles wake our members
    await ctx.ack(delivery)           # shares one writer operation with other acks
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from contextlib import suppress
from typing import Any

from .delivery import SQLiteDelivery
from .ops import Ops
from .writer import Writer

__all__ = ["SQLiteContext", "notify_path"]

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

    def __init__(self, writer: Writer, ops: Ops, key: str) -> None:
        self.writer = writer
        self.ops = ops
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.wakeups: set[asyncio.Event] = set()
        #: The owner tokens of this handle's members (the writer vouches for them).
        self.owners: tuple[str, ...] = ()
        self._acks: list[SQLiteDelivery] = []
        self._ack_future: asyncio.Future[None] | None = None

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
        inner = self.writer.submit(self.ops.ack, acks, wakes=wakes)

        def done(f: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            error = f.exception()
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

        inner.add_done_callback(done)
