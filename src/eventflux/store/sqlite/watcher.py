"""Noticing commits that other connections make to a SQLite store file.

Appends of this store wake its subscriptions directly; commits of other
stores on the same file (in this process or another) do not. While at least
one subscription waits, a watcher task checks the file's change counter
(``PRAGMA data_version``) every :data:`WATCH_INTERVAL` seconds and wakes the
subscriptions when it moves. A store without waiting subscriptions does not
check; the watcher stops after :data:`WATCH_LINGER` idle checks.

A check skips the file while the store's own appends keep coming (the store
counts them with :meth:`CommitWatcher.appended`): each of those wakes the
subscriptions, which then read the log, other connections' commits included.
On the event loop, a SQLite call hands the GIL over and waits to get it back
from the store's other threads; a busy store makes no such calls.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Final

from ..._internal.sqlite import connect, data_version

__all__ = ["WATCH_INTERVAL", "WATCH_LINGER", "CommitWatcher"]

#: How often the watcher checks the file for commits made by other connections.
WATCH_INTERVAL: Final = 0.01
#: Idle checks (no subscription waiting) before the watcher stops.
WATCH_LINGER: Final = 50


class CommitWatcher:
    """Wakes the waiting subscriptions of one store when another connection
    commits to its file.

    Example::

        watcher.enter(wake)      # a subscription starts waiting
        ...
        watcher.leave()          # its wait ended
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: Callable[[], None] | None = None
        self._waiting = 0
        self._closed = False
        self._appends = 0  # the store's own appends so far

    @property
    def running(self) -> bool:
        """Whether the watcher task is running now."""
        return self._task is not None

    def enter(self, wake: Callable[[], None]) -> None:
        """A subscription starts waiting: watch (if not yet) and call ``wake``
        when another connection commits."""
        self._waiting += 1
        self._wake = wake
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def leave(self) -> None:
        """A subscription's wait ended."""
        self._waiting -= 1

    def appended(self) -> None:
        """The store appended (and woke its subscriptions itself)."""
        self._appends += 1

    async def close(self) -> None:
        """Stop watching and close the watcher's connection."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)

    def _data_version(self) -> int | None:
        """The file's change counter as the watcher's connection sees it (None: busy)."""
        try:
            conn = self._conn
            if conn is None:
                # busy timeout 0: the check runs on the event loop and must never wait
                conn = self._conn = connect(self._path, 0.0)
            return data_version(conn)
        except sqlite3.Error:
            return None

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake()

    async def _watch(self) -> None:
        """While subscriptions wait: every ``WATCH_INTERVAL`` seconds, wake them if
        another connection committed. Stops after ``WATCH_LINGER`` idle checks."""
        idle = 0
        try:
            last = self._data_version()
            # a commit between a subscription's last read and this first check is
            # not seen by the counter: let every subscription read once more
            self._notify()
            appends = self._appends
            while not self._closed:
                await asyncio.sleep(WATCH_INTERVAL)
                if self._appends != appends:
                    # the subscriptions were woken since the last check and read the
                    # log then; ``last`` stays as it was, so the next check that
                    # reads the counter sees it moved and wakes them once more
                    appends = self._appends
                else:
                    now = self._data_version()
                    if now is None or now != last:
                        last = now
                        self._notify()
                idle = 0 if self._waiting else idle + 1
                if idle >= WATCH_LINGER:
                    break
        finally:
            if self._task is asyncio.current_task():
                self._task = None
