"""Waiting out an outage of the store or the bus: one retry loop for the
background loops that must not die of one (outbox relays, saga feeders).

Example::

    await while_unavailable(lambda: checkpoint.save(42), lambda e, pause: log(e, pause))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..exceptions import BusUnavailableError, StoreUnavailableError

__all__ = ["while_unavailable"]

T = TypeVar("T")

#: the errors of a store or bus that cannot be reached now but may be soon
UNAVAILABLE = (BusUnavailableError, StoreUnavailableError)


async def while_unavailable(
    op: Callable[[], Awaitable[T]],
    on_retry: Callable[[Exception, float], None],
    *,
    first: float = 0.05,
    most: float = 5.0,
    give_up: Callable[[], bool] = lambda: False,
    retry: tuple[type[Exception], ...] = UNAVAILABLE,
    never: tuple[type[Exception], ...] = (),
) -> T:
    """``await op()`` until it does not raise one of ``retry`` (by default an
    unavailable store or bus), pausing ``first`` seconds, doubling up to
    ``most``; ``on_retry(error, pause)`` is told of each retry. Other errors,
    those of ``never`` (bad input, say: retrying cannot help), and one raised
    while ``give_up()`` is true (a stop in progress) propagate."""
    pause = first
    while True:
        try:
            return await op()
        except retry as e:
            if isinstance(e, never) or give_up():
                raise
            on_retry(e, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, most)
