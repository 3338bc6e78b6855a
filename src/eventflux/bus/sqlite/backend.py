"""The SQLite message bus: durable, embedded, shared by the processes of one machine.

``open_bus("sqlite:///bus.db")`` (relative) or ``sqlite:////var/lib/app/bus.db``
(absolute). Every process that opens the file is a peer: members of one group
compete for its messages through leases that expire after ``ack_wait``, so the
work of a crashed process comes back. Writes go through one thread per handle
that commits everything queued in one transaction (group commit); members are
woken at once by commits of this process and within ``poll_interval`` by those
of others (``PRAGMA data_version``).

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
import threading
import time
import weakref
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Final, Self
from urllib.parse import SplitResult

from .._internal.urls import float_option, reject_unknown_options, sqlite_path
from ..codec import Codec
from ..events import uuid7
from ..exceptions import ConfigurationError
from ..resilience.inbox import DEFAULT_RETENTION, Inbox
from ._sqlite_ops import SCHEMA, SCHEMA_VERSION, Ops
from ._sqlite_writer import Writer
from .base import DEFAULT_DEDUP_WINDOW, MessageBus
from .message import DeadLetter, Delivery, Envelope
from .subjects import compile_pattern

__all__ = ["SQLiteBus"]

_SYNC: Final = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}
_registry_lock = threading.Lock()
_registry: dict[str, weakref.WeakSet[SQLiteBus]] = {}


def _notify_path(key: str) -> None:
    """Wake the members of every bus handle of this process on the file ``key``."""
    with _registry_lock:
        buses = list(_registry.get(key, ()))
    for bus in buses:
        bus._notify_threadsafe()


class _Handle:
    __slots__ = ("gid", "owner", "stopped", "wakeup")

    def __init__(self, gid: int) -> None:
        self.gid = gid
        self.owner = str(uuid7())
        self.stopped = False
        self.wakeup = asyncio.Event()


class _BusInbox(Inbox):
    """``idempotent=True`` on the SQLite bus: handled ids in the bus file."""

    def __init__(self, bus: SQLiteBus) -> None:
        self._bus = bus

    async def seen(self, group: str, msg_id: str) -> bool:
        result: bool = await self._bus._writer.submit(Ops.inbox_seen, group, msg_id)
        return result

    async def record(self, group: str, msg_id: str) -> None:
        await self._bus._writer.submit(Ops.inbox_record, group, msg_id)


class SQLiteBus(MessageBus):
    """A durable bus in one SQLite file (WAL mode)."""

    durable = True

    def __init__(
        self,
        path: str,
        *,
        dedup_window: float = DEFAULT_DEDUP_WINDOW,
        codec: Codec | None = None,
        durability: str = "full",
        busy_timeout: float = 10.0,
        poll_interval: float = 0.01,
        inbox_retention: float = DEFAULT_RETENTION,
    ) -> None:
        super().__init__(dedup_window=dedup_window, codec=codec)
        if durability not in _SYNC:
            raise ConfigurationError(f"durability={durability!r} is not one of {', '.join(_SYNC)}")
        self.path = path
        self.durability = durability
        self.busy_timeout = busy_timeout
        self.poll_interval = poll_interval
        self.inbox_retention = inbox_retention
        self._ops = Ops()
        self._handles: set[_Handle] = set()
        self._loop = asyncio.get_running_loop()
        self._ack_refs: list[tuple[Any, ...]] = []
        self._ack_future: asyncio.Future[None] | None = None
        memory = path == ":memory:" or path.startswith("file::memory:")
        self._key = f":memory:{id(self)}" if memory else os.path.realpath(path)
        self._writer = Writer(
            self._connect,
            path,
            loop=self._loop,
            on_commit=lambda: _notify_path(self._key),
            on_external_change=self._notify,
            housekeeping=lambda conn: Ops.housekeeping(conn, self.inbox_retention),
            poll_interval=poll_interval,
        )

    @classmethod
    async def _open(
        cls, url: SplitResult, options: dict[str, str], *, codec: Codec | None = None
    ) -> Self:
        bus = cls(
            sqlite_path(url),
            dedup_window=float_option(options, "dedup_window", DEFAULT_DEDUP_WINDOW),
            codec=codec,
            durability=options.pop("durability", "full").lower(),
            busy_timeout=float_option(options, "busy_timeout", 10.0),
            poll_interval=float_option(options, "poll_interval", 0.01),
            inbox_retention=float_option(options, "inbox_retention", DEFAULT_RETENTION),
        )
        reject_unknown_options(options, "sqlite")
        await bus._start()
        return bus

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise ConfigurationError(f"cannot open the SQLite bus {self.path!r}: {e}") from e
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={_SYNC[self.durability]}")
            conn.executescript("BEGIN IMMEDIATE;\n" + SCHEMA + "\nCOMMIT;")
            (version,) = conn.execute(
                "SELECT value FROM bus_meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.Error as e:
            conn.close()
            raise ConfigurationError(f"cannot use {self.path!r} as a SQLite bus: {e}") from e
        if version != SCHEMA_VERSION:
            conn.close()
            raise ConfigurationError(
                f"{self.path!r} holds bus schema version {version}; this eventflux "
                f"knows version {SCHEMA_VERSION}: upgrade eventflux"
            )
        return conn

    async def _start(self) -> None:
        await self._writer.start()
        with _registry_lock:
            _registry.setdefault(self._key, weakref.WeakSet()).add(self)

    async def _close(self) -> None:
        with _registry_lock:
            peers = _registry.get(self._key)
            if peers is not None:
                peers.discard(self)
                if not peers:
                    del _registry[self._key]
        for h in self._handles:
            h.stopped = True
            h.wakeup.set()
        await self._writer.close()

    # -- wake-ups ---------------------------------------------------------------------
    def _notify(self) -> None:
        for h in self._handles:
            h.wakeup.set()

    def _notify_threadsafe(self) -> None:
        with suppress(RuntimeError):  # that handle's loop is closed
            self._loop.call_soon_threadsafe(self._notify)

    # -- hooks ------------------------------------------------------------------------
    async def _publish(self, envelopes: list[Envelope]) -> list[bool]:
        result: list[bool] = await self._writer.submit(
            self._ops.publish, envelopes, self.dedup_window, wakes=True
        )
        return result

    async def _join(self, group: str, pattern: str) -> _Handle:
        gid: int = await self._writer.submit(Ops.join, group, pattern)
        handle = _Handle(gid)
        self._handles.add(handle)
        return handle

    async def _leave(self, handle: _Handle) -> None:
        self._handles.discard(handle)

    def _wake(self, handle: _Handle) -> None:
        handle.stopped = True
        handle.wakeup.set()

    async def _fetch(
        self, handle: _Handle, max_messages: int, ack_wait: float, max_wait: float
    ) -> list[Delivery]:
        if handle.stopped:
            return []
        handle.wakeup.clear()
        rows, due = await self._writer.submit(
            Ops.fetch, handle.gid, handle.owner, max_messages, ack_wait
        )
        if rows:
            owner = handle.owner
            return [
                Delivery(
                    subject,
                    data,
                    msg_id,
                    key,
                    headers or b"",
                    n,
                    published_at,
                    (row_id, owner, n, key, letter_id),
                )
                for row_id, subject, msg_id, key, headers, data, published_at, n, letter_id in rows
            ]
        wait = max_wait if due is None else min(max_wait, max(0.0, due - time.time()))
        if wait > 0 and not handle.stopped:
            with suppress(TimeoutError):
                await asyncio.wait_for(handle.wakeup.wait(), wait)
        return []

    async def _ack(self, delivery: Delivery) -> None:
        # Acks of one loop iteration share one operation and one future.
        fut = self._ack_future
        if fut is None:
            fut = self._ack_future = self._loop.create_future()
            self._loop.call_soon(self._flush_acks)
        self._ack_refs.append(delivery.ref)
        await fut

    def _flush_acks(self) -> None:
        refs, fut = self._ack_refs, self._ack_future
        self._ack_refs, self._ack_future = [], None
        assert fut is not None
        inner = self._writer.submit(self._ops.ack, refs, wakes=any(r[3] is not None for r in refs))

        def done(f: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            error = f.exception()
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

        inner.add_done_callback(done)

    async def _nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        await self._writer.submit(Ops.nak, delivery.ref, delay, count, wakes=True)

    async def _extend(self, deliveries: list[Delivery], ack_wait: float) -> None:
        await self._writer.submit(Ops.extend, [d.ref for d in deliveries], ack_wait)

    async def _dead_letter(self, delivery: Delivery, group: str, error: str) -> None:
        ref = delivery.ref
        await self._writer.submit(self._ops.dead_letter, ref, error, wakes=ref[3] is not None)

    async def _dlq_list(
        self, group: str | None, subject: str | None, limit: int | None
    ) -> list[DeadLetter]:
        rows = await self._writer.submit(Ops.dlq_list, group)
        match = compile_pattern(subject) if subject is not None else None
        out: list[DeadLetter] = []
        for lid, grp, subj, data, msg_id, key, error, deliveries, dead_at in rows:
            if match is not None and not match(subj):
                continue
            if limit is not None and len(out) >= limit:
                break
            out.append(
                DeadLetter(
                    lid,
                    grp,
                    subj,
                    self._letter_data(data),
                    msg_id,
                    key,
                    error,
                    deliveries,
                    datetime.fromtimestamp(dead_at, UTC),
                )
            )
        return out

    async def _dlq_retry(self, letter_id: str) -> bool:
        found: bool = await self._writer.submit(self._ops.dlq_retry, letter_id, wakes=True)
        return found

    async def _dlq_purge(self, group: str | None) -> int:
        count: int = await self._writer.submit(Ops.dlq_purge, group)
        return count

    def _make_inbox(self) -> Inbox:
        return _BusInbox(self)

    async def _load_checkpoint(self, name: str) -> int | None:
        value: int | None = await self._writer.submit(Ops.load_checkpoint, name)
        return value

    async def _save_checkpoint(self, name: str, value: int) -> None:
        await self._writer.submit(Ops.save_checkpoint, name, value)

    def stats(self) -> dict[str, Any]:
        """The handle's settings (for the CLI and the dashboard)."""
        return {"path": self.path, "durability": self.durability, "members": len(self._members)}
