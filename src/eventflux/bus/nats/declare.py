"""Creating a group's consumers before ``subscribe`` returns.

``subscribe`` is a plain call; the group's start point is fixed by it: once it
returns, every message published to a matching subject, from any process,
reaches the group. On NATS that means the group's durable consumers exist on
the server (they deliver what is published from their creation on). The
event loop of the bus cannot run while ``subscribe`` waits, so the consumers
are created from a short-lived connection on a thread of its own; this
happens once per group and bus handle (then the group is known to exist).

Example::

    declare_group(settings, "payments-1a2b3c4d", "orders.created")
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import nats

from ...exceptions import BusUnavailableError
from .errors import DRIVER_ERRORS, translated
from .groups import ensure_consumers
from .settings import NatsSettings

__all__ = ["declare_group"]


async def _create(settings: NatsSettings, gid: str, pattern: str) -> None:
    try:
        nc = await nats.connect(
            servers=settings.servers,
            user=settings.user,
            password=settings.password,
            name="eventflux-declare",
            connect_timeout=min(settings.timeout, 5.0),
            allow_reconnect=False,
        )
    except DRIVER_ERRORS as e:
        raise BusUnavailableError(
            f"cannot connect to NATS at {', '.join(settings.servers)} to create the group "
            f"{gid!r}: {type(e).__name__} {e}"
        ) from e
    try:
        js = nc.jetstream(timeout=settings.timeout)
        with translated(f"creating the consumers of group {gid!r}"):
            await ensure_consumers(js, settings, gid, pattern)
    finally:
        await nc.close()


def declare_group(settings: NatsSettings, gid: str, pattern: str) -> None:
    """Create the consumers of group ``gid`` that do not exist yet; return once they
    do (blocking the calling thread)."""
    with ThreadPoolExecutor(1, thread_name_prefix="eventflux-nats-declare") as pool:
        pool.submit(asyncio.run, _create(settings, gid, pattern)).result()
