"""LISTEN/NOTIFY wake-ups for the live subscriptions of the PostgreSQL store backend.

Each appending transaction sends ``pg_notify(channel, token)`` (delivered at
commit, to every listening session). One dedicated connection per store
listens and wakes the store's subscriptions. It starts with the first live
subscription that has to wait; while it is down (server restart, network),
subscriptions poll instead, and it reconnects by itself with backoff. After
each (re)connection the subscriptions re-read once, so nothing committed while
nobody listened is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

__all__ = ["KEEPALIVE", "Listener"]

logger = logging.getLogger("eventflux.store.postgres")

#: Notice a dead notification connection (no packets from a vanished peer) in about
#: 20 s, instead of the operating system's default of hours (options the URL gives
#: win).
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


class Listener:
    """Keeps one LISTEN connection up and calls ``wake`` on every notification
    whose payload is not ``token`` (the store's own appends woke it already)."""

    def __init__(self, conninfo: str, channel: str, token: str) -> None:
        given = pg_conninfo.conninfo_to_dict(conninfo)
        self._conninfo = conninfo
        self._kwargs = {k: v for k, v in KEEPALIVE.items() if k not in given}
        self._channel = channel
        self._token = token
        self._wake: Callable[[], None] = _nobody
        self._task: asyncio.Task[None] | None = None
        self._tried = asyncio.Event()
        self._closed = False
        #: True while the LISTEN connection is up (subscriptions need not poll).
        self.connected = False

    @property
    def started(self) -> bool:
        return self._task is not None

    async def start(self, wake: Callable[[], None], wait: float = 2.0) -> None:
        """Start listening and calling ``wake``; wait (at most ``wait`` s) for the
        first connection attempt."""
        self._wake = wake
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="eventflux-pg-listener"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), wait)

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected = False

    async def _run(self) -> None:
        delay = 0.05
        while not self._closed:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, **self._kwargs
                )
                await conn.execute(f'LISTEN "{self._channel}"')
                self.connected = True
                self._tried.set()
                delay = 0.05
                self._wake()  # re-read: commits made before LISTEN took effect
                async for note in conn.notifies():
                    if note.payload != self._token:  # own appends woke us already
                        self._wake()
                raise psycopg.OperationalError("the notification stream ended")
            except psycopg.Error as e:
                if self.connected:
                    logger.warning("event store notifications lost (%s); polling until back", e)
            finally:
                self.connected = False
                self._tried.set()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)


def _nobody() -> None:
    """The wake-up before anyone listens."""
