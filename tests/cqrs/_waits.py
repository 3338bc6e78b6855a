"""Waiting helpers shared by the read-model tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType

from eventflux.cqrs import ReadModel


class LoopTicks:
    """Counts how often the event loop ran a 5 ms ticker while the block ran
    (a blocked loop counts few ticks)::

        async with LoopTicks() as ticks:
            await something()
        assert ticks.count >= 20
    """

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def wait_checkpoint(model: ReadModel, name: str, at_least: int, deadline: float) -> int:
    """Poll ``name``'s committed checkpoint until it reaches ``at_least`` (by
    ``deadline``, a ``time.monotonic()`` value); returns it."""
    while time.monotonic() < deadline:
        position = await model.checkpoint(name)
        if position >= at_least:
            return position
        await asyncio.sleep(0.005)
    raise TimeoutError(f"the checkpoint of {name!r} did not reach {at_least}")


async def poll_until(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition()`` (something another thread or task changes) until it
    is true; TimeoutError naming ``what`` after a generous 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.001)
    raise TimeoutError(f"{what} did not happen within 30 s")
