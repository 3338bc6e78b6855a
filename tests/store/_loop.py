"""Measuring how long the event loop is held: the CPU time its thread spends
between two turns of a task that only yields (``time.thread_time``: other
processes on the machine do not inflate it, unlike the wall clock)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

from eventflux import NewEvent, open_store

__all__ = ["check_large_append", "longest_stretch"]


async def longest_stretch(work: Callable[[], Awaitable[Any]]) -> float:
    """Run ``work`` and return the most CPU time (s) the loop's thread spent
    without letting a yielding task run.

    The objects alive before (the test process's own: modules, fixtures) are
    frozen out of the garbage collector meanwhile, so that its passes over
    them, which depend on what else the process holds, are not counted."""
    gc.collect()
    gc.freeze()
    try:
        return await _longest_stretch(work)
    finally:
        gc.unfreeze()


async def _longest_stretch(work: Callable[[], Awaitable[Any]]) -> float:
    stretches: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.thread_time()
        while running:
            await asyncio.sleep(0)
            now = time.thread_time()
            stretches.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    try:
        await work()
        await asyncio.sleep(0.01)
    finally:
        running = False
        await task
    return max(stretches)


async def check_large_append(url: str) -> None:
    """Append 10,000 events of 6 KB (60 MB) to the store at ``url`` and read them
    back: neither may hold the loop for 50 ms or more at a time."""
    events = [NewEvent("Blob", {"blob": "x" * 6000, "i": i}) for i in range(10_000)]
    async with await open_store(url) as store:

        async def append() -> None:
            await store.append("big", events)

        async def read() -> None:
            assert len([e async for e in store.read_all()]) == 10_000

        appending = await longest_stretch(append)
        reading = await longest_stretch(read)
    assert appending < 0.05, f"the append held the loop for {appending * 1000:.0f} ms"
    assert reading < 0.05, f"the read held the loop for {reading * 1000:.0f} ms"
