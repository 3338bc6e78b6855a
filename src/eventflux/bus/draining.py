"""Stopping members with a deadline: :func:`drain`, what ``close(timeout=...)``,
``unsubscribe(..., timeout=...)`` and the worker's stop do.

The members stop fetching and give back what has not started at once; the
running handlers get ``grace`` seconds to finish and settle; those still
running then are cancelled and their messages go back unacknowledged (their
runs counted). A handler that ignores its cancellation is left behind after
:data:`CANCEL_GRACE` more seconds, with an error logged.

Example::

    await drain(consumers, 30.0)
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from .consumer import Consumer

__all__ = ["CANCEL_GRACE", "drain"]

log = logging.getLogger("eventflux.bus")

#: Seconds to wait for cancelled handlers to give their messages back.
CANCEL_GRACE: Final = 5.0


async def drain(consumers: list[Consumer], grace: float) -> None:
    """Stop ``consumers``; past ``grace`` seconds cancel the handlers still running."""
    for c in consumers:
        c.stop()
    if not consumers:
        return
    waits = {asyncio.ensure_future(c.wait_stopped()): c for c in consumers}
    _, late = await asyncio.wait(waits, timeout=max(grace, 0.0))
    if not late:
        return
    cancelled = sum(waits[w].cancel_running() for w in late)
    log.warning(
        "the bus closes: %d handler(s) still ran after %gs; cancelled, their messages "
        "go back unacked",
        cancelled,
        grace,
    )
    _, stuck = await asyncio.wait(late, timeout=CANCEL_GRACE)
    for w in stuck:
        w.cancel()
        log.error("group %r: a handler ignored its cancellation", waits[w].sub.group)
