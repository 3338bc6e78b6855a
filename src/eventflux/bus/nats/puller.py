"""One pull subscription on one JetStream consumer, with exact credit counting.

A :class:`Puller` keeps at most one pull request open on its consumer: a
request for ``n`` messages that expires after a second (or as asked; long
requests get the server's heartbeats). Messages and the
server's status replies (``404`` no messages, ``408`` request expired, ``409``
consumer changed) arrive on the puller's own inbox and are handed to the
owner's callbacks in order. A request ends when all its messages arrived, on
any status reply, or, should the reply be lost (a reconnect), at its deadline.

Draining the inbox subscription cancels the open request: the server drops
requests whose inbox has no interest, and what it sent before arrives before
the drain completes. A delivery under way at that very moment can still go
astray (the server counts it delivered; it comes back after ``ack_wait``), so
a partition handed over to another member first lets its request end
(:meth:`Puller.finish`).

Example::

    puller = Puller(nc, "EVENTFLUX", "payments-1a2b3c4d-k3", 3, on_message, on_idle)
    await puller.start()
    await puller.pull(16)          # up to 16 messages within a second
    await puller.finish()          # let the request end, then unsubscribe
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson

__all__ = ["Puller"]

#: How long an open pull request waits for messages on the server (partitions
#: use short requests: handing one over waits for its request to end).
EXPIRES: Final = 1.0
#: Extra time before a request without any reply is taken as lost.
GRACE: Final = 2.0
#: Heartbeat interval the server keeps on long requests (a missing one = lost).
HEARTBEAT: Final = 1.0


class Puller:
    """Pulls from one consumer for one member; ``lane`` is -1 for the unkeyed
    consumer, else the partition number."""

    __slots__ = (
        "_deadline",
        "_end",
        "_ended",
        "_heartbeat",
        "_inbox",
        "_nc",
        "_next",
        "_on_idle",
        "_on_message",
        "_sub",
        "consumer",
        "draining",
        "lane",
        "requested",
    )

    def __init__(
        self,
        nc: Any,
        stream: str,
        consumer: str,
        lane: int,
        on_message: Callable[[Puller, Any], Awaitable[None]],
        on_idle: Callable[[], None],
    ) -> None:
        self._nc = nc
        self.consumer = consumer
        self.lane = lane
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = ""
        self._sub: Any = None
        self._on_message = on_message
        self._on_idle = on_idle
        self._deadline = 0.0
        self._end = 0.0
        self._ended = asyncio.Event()
        self._heartbeat = 0.0
        self.requested = 0
        self.draining = False

    async def start(self) -> None:
        """Subscribe to the puller's inbox."""
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._receive)

    @property
    def idle(self) -> bool:
        """True when no request is open (or the open one is overdue: lost)."""
        if self.requested and time.monotonic() > self._deadline:
            self.requested = 0
        return self.requested == 0 and not self.draining and self._sub is not None

    def forget(self) -> None:
        """Forget the open request (after a reconnect the server lost it)."""
        self.requested = 0

    async def pull(self, n: int, expires: float = EXPIRES, *, no_wait: bool = False) -> None:
        """Open a request for ``n`` messages (the puller must be idle). With
        ``no_wait`` the server sends only what is available now, then ends it.
        A long request gets heartbeats: without news for three of them it is
        taken as lost (a reconnect, a new consumer leader in a cluster)."""
        self.requested = n
        now = time.monotonic()
        request: dict[str, object] = {"batch": n}
        self._heartbeat = 0.0
        if no_wait:
            request["no_wait"] = True
            self._end = now + GRACE
        else:
            request["expires"] = max(1_000_000, int(expires * 1e9))
            self._end = now + expires + GRACE
            if expires > 2 * HEARTBEAT:
                request["idle_heartbeat"] = int(HEARTBEAT * 1e9)
                self._heartbeat = HEARTBEAT
        self._deadline = self._end if not self._heartbeat else now + 3 * self._heartbeat
        try:
            await self._nc.publish(self._next, orjson.dumps(request), reply=self._inbox)
        except Exception:
            self.requested = 0
            raise

    async def _receive(self, msg: Any) -> None:
        if self._heartbeat:
            self._deadline = min(self._end, time.monotonic() + 3 * self._heartbeat)
        headers = msg.headers
        if headers is not None and "Status" in headers and not msg.data:
            if headers["Status"] != "100":  # 100 = heartbeat; anything else ends the request
                self.requested = 0
                self._ended.set()
                self._on_idle()
            return
        if self.requested > 0:
            self.requested -= 1
        await self._on_message(self, msg)
        if self.requested == 0:
            self._ended.set()
            self._on_idle()

    async def finish(self) -> None:
        """Stop pulling: let the open request end by itself (at most ``EXPIRES``
        seconds), then drain. Unlike a bare drain this cannot race with a
        delivery under way, which the server would count as delivered to an
        inbox that is already gone (it would come back only after ack_wait)."""
        self.draining = True
        if self.requested and time.monotonic() < self._deadline:
            self._ended.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), self._deadline - time.monotonic())
        await self.drain()

    async def drain(self) -> None:
        """Cancel the open request; messages already sent are still received."""
        self.draining = True
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.drain()
            except Exception:  # a closed connection: nothing more can arrive
                pass
        self.requested = 0
