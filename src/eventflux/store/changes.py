"""Change notification for live subscriptions: a counter that moves, and an
event that fires, whenever something may have been appended (or the store
closed).

Example::

    generation = changes.generation
    ...                                   # read a page
    await changes.wait(generation, 0.5)   # at once if it moved, else at most 0.5 s
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Changes"]


class Changes:
    """What live subscriptions of one store wait on."""

    def __init__(self) -> None:
        #: Moves on every notification; a reader remembers it before reading.
        self.generation = 0
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every waiter: something may have changed."""
        self.generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, generation: int, at_most: float | None) -> None:
        """Wait for a notification after ``generation`` (at once if one came
        already), at most ``at_most`` seconds (None: no limit)."""
        if self.generation != generation:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), at_most)
