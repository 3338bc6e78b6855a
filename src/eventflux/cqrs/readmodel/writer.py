"""The writer thread of a read model: where its blocking writes run, one at a time.

A read model writes through one connection. Every blocking call on it (begin
with its lock wait, a whole batch of plain handlers, commit with its fsync)
runs on the model's own thread, so the event loop never waits for the
database; one thread also means the calls never overlap.

Example::

    writer = WriterThread()
    uow = await writer.run(backend.begin, "shop-catalog")
    ...
    writer.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["WriterThread"]

R = TypeVar("R")


class WriterThread:
    """One worker thread, started on first use, running calls in the order given."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    async def run(
        self,
        fn: Callable[..., R],
        *args: Any,
        on_cancel: Callable[[], None] | None = None,
    ) -> R:
        """Run ``fn(*args)`` on the thread and return its result.

        A call that has started always runs to its end, and this waits for it:
        when the awaiting task is cancelled, ``on_cancel()`` is called (to ask
        ``fn`` to stop early), the thread's work is waited for (through further
        cancellations too: until it ends, nobody else may use the connection it
        uses), and then the cancellation propagates. Calls given later run
        after it, on the same thread.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="eventflux-read-model")
        done: Future[R] = self._pool.submit(fn, *args)
        waiting = asyncio.wrap_future(done)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if on_cancel is not None:
                on_cancel()
            while not waiting.done():
                try:
                    await asyncio.wait({waiting})
                except asyncio.CancelledError:
                    continue  # still cancelled; the work ends soon (on_cancel asked it to)
            if not waiting.cancelled():
                waiting.exception()  # retrieved: the cancellation is what propagates
            raise

    def close(self) -> None:
        """Let the thread finish what it was given, then stop it."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
