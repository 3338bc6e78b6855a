"""Small reads on the event loop's own thread.

Handing a read to a reader thread and back costs two thread switches and two
GIL hand-overs: 60-120 µs of CPU on a small virtual machine, where the read
itself (a page of a few events from the page cache, in WAL mode, which never
waits for the writer) takes 10-50 µs. The reads a running application makes
most (the tail of the log for its projections and relays, an aggregate's
stream) are that small, so they run inline:

- at most ``rows`` rows inline per read; the rest of a larger page goes to a
  reader thread as before;
- the inline connection never waits for a lock (busy timeout 0): a busy file
  sends the read to a reader thread, which waits as configured;
- two reads in a row that held the loop longer than :data:`SLOW` (a cold
  disk, large events) send the reads of the next while (0.1 s, doubling up
  to 30 s while they stay slow) to the reader threads. One alone does not:
  an inline read gives the GIL up for each step, and on a busy process one
  now and then waits milliseconds to get it back, without being slow itself.

``rows=0`` (the URL option ``inline_rows=0``) runs every read on a reader
thread.

Example::

    inline = InlineReads(rows=64, connect=open_reader)
    events = inline.run(read_page, *args)
    if events is DECLINED:  # the file is busy: read it on a reader thread
        ...
"""

from __future__ import annotations

import enum
import sqlite3
import threading
from collections.abc import Callable
from time import monotonic, perf_counter
from typing import Any, Final, Literal, TypeVar

from ..._internal.sqlite import ErrorKind, classify

__all__ = ["DECLINED", "DEFAULT_ROWS", "SLOW", "Declined", "InlineReads"]

T = TypeVar("T")

#: Rows one read may take inline, by default.
DEFAULT_ROWS: Final = 64
#: Two inline reads in a row longer than this (seconds) send the next reads to the threads.
SLOW: Final = 0.002
_FIRST_PAUSE: Final = 0.1
_MAX_PAUSE: Final = 30.0


class Declined(enum.Enum):
    """The type of :data:`DECLINED`."""

    DECLINED = "declined"


#: What :meth:`InlineReads.run` returns for a read it could not run inline.
DECLINED: Final = Declined.DECLINED


class InlineReads:
    """Runs small reads on the calling thread, with one connection per thread."""

    def __init__(self, rows: int, connect: Callable[[], sqlite3.Connection]) -> None:
        self.rows = rows
        self._connect = connect
        self._local = threading.local()
        self._paused_until = 0.0
        self._pause = _FIRST_PAUSE
        self._slow = False  # the last inline read was slow
        #: Reads run inline, and reads sent to the threads instead (for tests).
        self.inline = 0
        self.declined = 0

    def limit(self, wanted: int) -> int:
        """How many of ``wanted`` rows to read inline now (0: none)."""
        if not self.rows or monotonic() < self._paused_until:
            return 0
        return min(wanted, self.rows)

    def run(self, fn: Callable[..., T], *args: Any) -> T | Literal[Declined.DECLINED]:
        """``fn(connection, *args)`` on this thread, or :data:`DECLINED` if the file
        is busy (the caller then reads on a reader thread). Other errors propagate."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        started = perf_counter()
        try:
            result = fn(conn, *args)
        except sqlite3.OperationalError as e:
            if classify(e) is not ErrorKind.BUSY:
                raise
            self.declined += 1
            return DECLINED
        if perf_counter() - started <= SLOW:
            self._slow = False
            self._pause = _FIRST_PAUSE
        elif not self._slow:
            self._slow = True  # once may be the GIL: twice in a row is the read
        else:
            self._slow = False
            self._paused_until = monotonic() + self._pause
            self._pause = min(self._pause * 2, _MAX_PAUSE)
        self.inline += 1
        return result
