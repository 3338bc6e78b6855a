"""One member of a consumer group on the SQLite bus: its
:class:`~eventflux.bus.backend.MemberHandle`.

A fetch leases rows of the group in one write transaction (members in any
number of processes compete through these leases); every settle matches the
lease (see :mod:`.delivery`). When nothing is ready, a fetch waits until a
commit wakes the member or the next delayed row falls due.

Example::

    member = SQLiteMember(ctx, group_id=3, owner=owner, ack_wait=30.0)
    deliveries = await member.fetch(16, 2.0)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import suppress

from ..backend import Delivery, MemberHandle
from .context import SQLiteContext
from .delivery import SQLiteDelivery
from .ops import Ops

__all__ = ["SQLiteMember"]


def _own(d: Delivery) -> SQLiteDelivery:
    if not isinstance(d, SQLiteDelivery):
        raise TypeError(f"not a delivery of the SQLite bus: {d!r}")
    return d


class SQLiteMember(MemberHandle):
    """A member's handle on its group's rows."""

    def __init__(self, ctx: SQLiteContext, group_id: int, *, owner: str, ack_wait: float) -> None:
        self._ctx = ctx
        self._gid = group_id
        self._owner = owner
        self._ack_wait = ack_wait
        self._stopped = False
        self._wakeup = asyncio.Event()
        ctx.wakeups.add(self._wakeup)
        ctx.add_owner(owner)

    @property
    def ack_wait(self) -> float:
        return self._ack_wait

    def wake(self) -> None:
        self._stopped = True
        self._wakeup.set()

    async def leave(self) -> None:
        ctx = self._ctx
        ctx.wakeups.discard(self._wakeup)
        ctx.remove_owner(self._owner)
        await ctx.submit(Ops.leave, self._owner)

    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        if self._stopped:
            return []
        self._wakeup.clear()
        owner = self._owner
        rows, due = await self._ctx.submit(
            Ops.fetch, self._gid, owner, max_messages, self._ack_wait
        )
        if rows:
            return [
                SQLiteDelivery(
                    subject,
                    data,
                    msg_id,
                    key,
                    headers or b"",
                    runs + 1,
                    published_at,
                    row_id,
                    owner,
                    lease,
                    letter_id,
                )
                for (
                    row_id, subject, msg_id, key, headers, data, published_at, lease, runs,
                    letter_id,
                ) in rows
            ]  # fmt: skip
        wait = max_wait if due is None else min(max_wait, max(0.0, due - time.time()))
        if wait > 0 and not self._stopped:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)
        return []

    async def ack(self, delivery: Delivery) -> None:
        await self._ctx.ack(_own(delivery))

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        await self._ctx.submit(Ops.nak, _own(delivery), delay, count, wakes=True)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            own = [_own(d) for d in deliveries]
            await self._ctx.submit(Ops.release, own, wakes=True)

    async def starting(self, delivery: Delivery) -> None:
        d = _own(delivery)
        if d.lease > 1 or d.attempt > 1:  # a first run of a first hand-out is not written
            await self._ctx.submit(Ops.starting, d)

    async def extend(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            own = [_own(d) for d in deliveries]
            await self._ctx.submit(Ops.extend, own, self._ack_wait)

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        d = _own(delivery)
        await self._ctx.submit(self._ctx.ops.dead_letter, d, error, wakes=d.key is not None)
