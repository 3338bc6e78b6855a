"""The JetStream consumers of each consumer group, and their ``ack_wait``.

A group ``(name, pattern)`` has the group id ``<name>-<pattern hash>`` and
``1 + partitions`` durable pull consumers: ``<gid>-u`` for unkeyed messages and
``<gid>-k<n>`` for partition ``n``. Each filters on the group's pattern in its
lane and on the lane's retry subject of the group (dead letters retried for
this group only). They are created by the first member to join, deliver what
is published from then on, ack explicitly, and never give up on a message by
themselves (``max_deliver`` is counted by the bus, which dead-letters).

``ack_wait`` is a consumer setting, shared by the members of a group: it is
the smallest any member asked for (members extend their running messages at a
third of it).

Example::

    groups = GroupRegistry(js, settings)
    await groups.ensure("payments-1a2b3c4d", "orders.created")
    await groups.lower_ack_wait("payments-1a2b3c4d", 5.0)
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from . import wire
from .settings import NatsSettings

__all__ = ["DEFAULT_ACK_WAIT", "GroupRegistry", "ensure_consumers", "lanes"]

#: ``ack_wait`` of a group's consumers until a member asks for less.
DEFAULT_ACK_WAIT: Final = 30.0
#: Unacknowledged messages a consumer may have out (all members together).
MAX_ACK_PENDING: Final = 20_000


def lanes(settings: NatsSettings) -> list[str]:
    """The lanes of a group: ``u`` (unkeyed) and ``k0`` ... ``k<partitions-1>``."""
    return ["u", *(f"k{p}" for p in range(settings.partitions))]


async def _consumer(js: Any, settings: NatsSettings, gid: str, pattern: str, lane: str) -> float:
    """Create one consumer of the group unless it exists; return its ``ack_wait``."""
    name = f"{gid}-{lane}"
    stream = settings.stream
    try:
        info = await js.consumer_info(stream, name)
        return float(info.config.ack_wait)
    except nats.js.errors.NotFoundError:
        pass
    config = ConsumerConfig(
        name=name,
        durable_name=name,
        deliver_policy=DeliverPolicy.NEW,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=DEFAULT_ACK_WAIT,
        max_deliver=-1,
        max_ack_pending=MAX_ACK_PENDING,
        filter_subjects=wire.filters(settings.prefix, gid, lane, pattern),
    )
    try:
        info = await js.add_consumer(stream, config)
    except nats.js.errors.BadRequestError:  # created meanwhile by another member
        info = await js.consumer_info(stream, name)
    return float(info.config.ack_wait)


async def ensure_consumers(js: Any, settings: NatsSettings, gid: str, pattern: str) -> float:
    """Create the group's consumers that do not exist yet (each delivers what is
    published from its creation on); return the smallest ``ack_wait`` among them."""
    waits = await asyncio.gather(
        *(_consumer(js, settings, gid, pattern, lane) for lane in lanes(settings))
    )
    return min(waits)


class GroupRegistry:
    """Creates and tunes the consumers of the groups this bus joins."""

    def __init__(self, js: Any, settings: NatsSettings) -> None:
        self.js = js
        self.settings = settings
        self._ack_wait: dict[str, float] = {}
        self._patterns: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lanes(self) -> list[str]:
        return lanes(self.settings)

    def ack_wait(self, gid: str) -> float:
        return self._ack_wait.get(gid, DEFAULT_ACK_WAIT)

    async def ensure(self, gid: str, pattern: str) -> None:
        """Create the group's consumers if they do not exist yet."""
        lock = self._locks.setdefault(gid, asyncio.Lock())
        async with lock:
            if gid in self._ack_wait:
                return
            wait = await ensure_consumers(self.js, self.settings, gid, pattern)
            self._patterns[gid] = pattern
            self._ack_wait[gid] = wait

    async def refresh(self, gid: str) -> None:
        """Re-read the group's ``ack_wait`` (another process may have lowered it)."""
        if gid in self._ack_wait:
            info = await self.js.consumer_info(self.settings.stream, f"{gid}-u")
            self._ack_wait[gid] = min(self._ack_wait[gid], float(info.config.ack_wait))

    async def lower_ack_wait(self, gid: str, ack_wait: float) -> None:
        """Make the group's ``ack_wait`` at most ``ack_wait`` seconds."""
        current = self._ack_wait.get(gid)
        if current is None or ack_wait >= current - 1e-3:
            return
        lock = self._locks.setdefault(gid, asyncio.Lock())
        async with lock:
            if ack_wait >= self._ack_wait[gid] - 1e-3:
                return
            stream = self.settings.stream

            async def update(lane: str) -> None:
                info = await self.js.consumer_info(stream, f"{gid}-{lane}")
                config = info.config
                if config.ack_wait > ack_wait:
                    config.ack_wait = ack_wait
                    await self.js.add_consumer(stream, config)

            await asyncio.gather(*(update(lane) for lane in self.lanes()))
            self._ack_wait[gid] = ack_wait
