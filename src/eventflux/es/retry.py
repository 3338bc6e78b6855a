"""Retry a unit of work when an optimistic-concurrency check fails.

Example::

    async def transfer() -> None:
        source, target = await accounts.get("a"), await accounts.get("b")
        source.send(target.id, 10)
        target.receive(source.id, 10)
        await accounts.save_all([source, target])

    await retry_on_conflict(transfer, retries=5)
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..exceptions import ConcurrencyError

__all__ = ["retry_on_conflict"]

R = TypeVar("R")


async def retry_on_conflict(
    work: Callable[[], Awaitable[R]], *, retries: int = 3, max_delay: float = 0.05
) -> R:
    """Await ``work()``; when it raises :class:`~eventflux.ConcurrencyError`, wait
    a short random time and run it again, up to ``retries`` more times.

    ``work`` must reload what it changes on every call. The last
    ``ConcurrencyError`` propagates when the retries are used up.
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    attempt = 0
    while True:
        try:
            return await work()
        except ConcurrencyError:
            if attempt >= retries:
                raise
        attempt += 1
        await asyncio.sleep(random.uniform(0, min(max_delay, 0.001 * 2**attempt)))
