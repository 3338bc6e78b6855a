"""Which member of a group consumes which key partition: leases in the meta stream.

Every member announces itself with a heartbeat (``mem.<group id>.<member>``,
expiring after the lease time) and computes, from the sorted list of live
members, the partitions it should own: partition ``n`` goes to member
``n mod count``. It takes a partition by creating its lease
(``own.<group id>.<n>``) only if no one holds it (a compare-and-set on the
subject's last sequence), renews it on every tick, and hands it over when it
should no longer own it: it stops pulling, lets the partition's running
handlers settle, gives the other messages back to the server in stream order
(they are redelivered first, to the next owner), then frees the lease.

A crashed member's leases expire after ``ack_wait + 2 * renew + 1`` seconds:
later than its unacknowledged messages, which the server queues for
redelivery after ``ack_wait``, so the next owner receives them before any
newer message of their keys. Members announce joins and hand-overs on a plain
NATS subject so the others act at once instead of at their next tick.

The member is anything with the :class:`PartitionHolder` shape (the NATS
member): ownership takes and hands over partitions, the member pulls them.

Example::

    owner = Ownership(ctx, member, partitions=8)
    await owner.start()       # heartbeat, first assignment, lease renewal loop
    await owner.stop()        # hand every partition over and leave
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final, Protocol

from .context import NatsContext

__all__ = ["Ownership", "PartitionHolder", "lease_times"]

log = logging.getLogger("eventflux.bus.nats")
FREE: Final = b"-"


class PartitionHolder(Protocol):
    """What ownership needs of a member."""

    @property
    def group(self) -> str: ...

    @property
    def gid(self) -> str: ...

    @property
    def member_id(self) -> str: ...

    async def activate(self, lane: int) -> None:
        """Start pulling the partition ``lane`` (its lease was just taken)."""

    async def release_lane(self, lane: int) -> None:
        """Stop pulling ``lane`` and give back all of it (before its lease is freed)."""


def lease_times(ack_wait: float) -> tuple[float, float]:
    """``(renew period, lease time to live)`` for a group's ``ack_wait``."""
    renew = min(5.0, max(0.5, ack_wait / 3))
    return renew, ack_wait + 2 * renew + 1.0


class Ownership:
    """The partition leases of one member."""

    def __init__(self, ctx: NatsContext, member: PartitionHolder, partitions: int) -> None:
        self.ctx = ctx
        self.member = member
        self.partitions = partitions
        self.owned: dict[int, int] = {}  # partition -> revision of its lease
        self.handing: dict[int, asyncio.Task[None]] = {}
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: Any = None
        self._stopped = False
        self.meta = ctx.meta
        self._events = f"_EVENTFLUX.{ctx.settings.stream}.{member.gid}"

    def stopped(self) -> bool:
        return self._stopped

    def _times(self) -> tuple[float, float]:
        return lease_times(self.ctx.groups.ack_wait(self.member.gid))

    async def start(self) -> None:
        """Announce the member, take its first partitions, start the lease loop."""

        async def poked(msg: Any) -> None:
            if msg.data != self.member.member_id.encode():
                self._poke.set()

        self._sub = await self.ctx.nc.subscribe(self._events, cb=poked)
        await self.tick()
        await self._announce()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _announce(self) -> None:
        with contextlib.suppress(Exception):
            await self.ctx.nc.publish(self._events, self.member.member_id.encode())

    async def _loop(self) -> None:
        while not self._stopped:
            renew, _ = self._times()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), renew)
            self._poke.clear()
            if self.stopped():
                return
            try:
                await self.tick()
            except Exception as e:
                log.warning("group %r: lease tick failed: %s", self.member.group, e)

    async def _members(self) -> list[str]:
        gid = self.member.gid
        found = await self.meta.count(f"mem.{gid}.*")
        ids = {subject.rsplit(".", 1)[1] for subject in found}
        ids.add(self.member.member_id)
        return sorted(ids)

    async def tick(self) -> None:
        """Heartbeat, then renew, hand over and take partitions as assigned."""
        m = self.member
        await self.ctx.groups.refresh(m.gid)
        _, ttl = self._times()
        await self.meta.put(f"mem.{m.gid}.{m.member_id}", b"1", ttl=ttl)
        members = await self._members()
        me = members.index(m.member_id)
        wanted = {p for p in range(self.partitions) if p % len(members) == me}
        for p, rev in list(self.owned.items()):
            if p in self.handing:
                continue
            if p not in wanted:
                self.handing[p] = asyncio.get_running_loop().create_task(self._hand_over(p))
                continue
            new = await self.meta.put(self._lease(p), m.member_id.encode(), expect=rev, ttl=ttl)
            if new is None:  # someone took it after our lease expired: stop at once
                log.warning("group %r: lost the lease of partition %d", m.group, p)
                self.owned.pop(p, None)
                self.handing[p] = asyncio.get_running_loop().create_task(self._hand_over(p))
            else:
                self.owned[p] = new
        for p in sorted(wanted - self.owned.keys() - self.handing.keys()):
            got = await self._acquire(p, ttl)
            if got is not None:
                log.info("group %r: member %s took partition %d", m.group, m.member_id, p)
                self.owned[p] = got
                await m.activate(p)

    def _lease(self, p: int) -> str:
        return f"own.{self.member.gid}.{p}"

    async def _acquire(self, p: int, ttl: float) -> int | None:
        me = self.member.member_id.encode()
        rev = await self.meta.put(self._lease(p), me, expect=0, ttl=ttl)
        if rev is not None:
            return rev
        current = await self.meta.get(self._lease(p))
        if current is None:
            return await self.meta.put(self._lease(p), me, expect=0, ttl=ttl)
        if current[1] == FREE:
            return await self.meta.put(self._lease(p), me, expect=current[0], ttl=ttl)
        return None

    async def _hand_over(self, p: int) -> None:
        try:
            await self.member.release_lane(p)
            held = self.owned.pop(p, None)
            if held is not None:
                await self.meta.put(self._lease(p), FREE, expect=held, ttl=1.0)
                log.info("group %r: handed partition %d over", self.member.group, p)
            await self._announce()
        except Exception as e:
            log.warning("group %r: handing over partition %d failed: %s", self.member.group, p, e)
        finally:
            self.handing.pop(p, None)

    async def stop(self) -> None:
        """Free every lease (the member released its messages) and leave."""
        self._stopped = True
        self._poke.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self.handing:
            await asyncio.gather(*self.handing.values(), return_exceptions=True)
        m = self.member
        try:
            for p, rev in list(self.owned.items()):
                await self.meta.put(self._lease(p), FREE, expect=rev, ttl=1.0)
            self.owned.clear()
            await self.meta.purge(f"mem.{m.gid}.{m.member_id}")
            await self._announce()
        except Exception as e:  # the leases expire on their own
            log.warning("group %r: freeing leases failed: %s", m.group, e)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
