"""The handlers a member runs, watched: :class:`HandlerWatch` cancels one that
runs past ``handler_timeout`` and, when the bus closes past its timeout, all
that still run.

The consumer runtime registers each handler task while its handler runs. A
task the watch cancelled for its timeout answers True to :meth:`timed_out`
(the run then fails with ``HandlerTimeoutError``); after :meth:`cancel_all`,
:attr:`cancelled` is True (the runtime gives those messages back).

Example::

    watch = HandlerWatch(600.0)
    watch.begin(task)            # a handler starts in ``task``
    ...
    watch.end(task)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

__all__ = ["WATCH_EVERY", "HandlerWatch"]

#: Longest pause of the watch between two looks at the running handlers.
WATCH_EVERY: Final = 1.0


class HandlerWatch:
    """The running handler tasks of one member and their start times."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.running: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.cancelled = False

    def begin(self, task: asyncio.Task[Any]) -> float:
        """A handler starts in ``task``; returns the start time (``time.monotonic()``)."""
        started = self.running[task] = time.monotonic()
        return started

    def end(self, task: asyncio.Task[Any]) -> None:
        """The handler of ``task`` ended."""
        del self.running[task]

    def forget(self, task: asyncio.Task[Any]) -> None:
        """``task`` is done with its delivery."""
        self.expired.discard(task)

    def timed_out(self) -> bool:
        """True when the current task was cancelled for running past the limit."""
        return asyncio.current_task() in self.expired

    def cancel_all(self) -> int:
        """Cancel every running handler (the bus closes past its timeout); returns
        how many."""
        self.cancelled = True
        running = list(self.running)
        for task in running:
            task.cancel()
        return len(running)

    async def watch(self) -> None:
        """Cancel the handlers that run past the limit, until cancelled."""
        limit = self.limit
        every = min(WATCH_EVERY, max(limit / 8, 0.005))
        running, expired = self.running, self.expired
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for task, started in list(running.items()):
                if now - started >= limit and task not in expired:
                    expired.add(task)
                    task.cancel()
