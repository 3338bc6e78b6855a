"""One member of a consumer group on the NATS bus: its
:class:`~eventflux.bus.backend.MemberHandle`.

A member pulls its group's unkeyed consumer (shared by every member; pulled
only while the runtime fetches, for as many messages as it has free slots)
and the partition consumers it owns (see :mod:`.ownership`; each pulled by
its owner alone, so every keyed message of a partition reaches one member,
in stream order). What arrives is buffered in arrival order and handed to
the runtime by :meth:`NatsMember.fetch`; the runtime keeps each key's order
(:attr:`~eventflux.bus.backend.KeyOrder.MEMBER`). The member buffers at most
``max(concurrency, 64)`` unsettled messages per owned partition.

Every message the member received is tracked until it is settled. Giving
messages back (a release, a hand-over) and telling the server the member
still works on them (``in_progress``) go in stream order, so that, should the
member die, the server redelivers them in that order.

Example::

    member = NatsMember(ctx, "payments", "orders.*", gid, member_id, concurrency=16,
                        revoke=runtime.revoke, registry=members)
    await member.start()
    deliveries = await member.fetch(16, 2.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any, Final

from ..backend import Delivery, MemberHandle, Revoke
from .context import NatsContext
from .delivery import DeliveryState, NatsDelivery
from .errors import DRIVER_ERRORS, driver_error, translated
from .letters import letter_record
from .ownership import Ownership
from .puller import Puller
from .received import Received, by_seq

__all__ = ["PARTITION_WINDOW", "NatsMember"]

log = logging.getLogger("eventflux.bus.nats")

#: Messages a member buffers per owned partition, at least.
PARTITION_WINDOW: Final = 64
#: Messages a partition may buffer while its member gathers a previous owner's leftovers.
CATCH_UP_WINDOW: Final = 1024

_GONE: Final = DeliveryState.GONE
_BUFFERED: Final = DeliveryState.BUFFERED
_OUT: Final = DeliveryState.OUT


def _own(d: Delivery) -> NatsDelivery:
    if not isinstance(d, NatsDelivery):
        raise TypeError(f"not a delivery of the NATS bus: {d!r}")
    return d


class NatsMember(MemberHandle):
    """The state of one member of a group on one bus handle."""

    def __init__(
        self,
        ctx: NatsContext,
        group: str,
        pattern: str,
        gid: str,
        member_id: str,
        *,
        concurrency: int,
        revoke: Revoke,
        registry: set[NatsMember],
    ) -> None:
        self.ctx = ctx
        self._group = group
        self.pattern = pattern
        self._gid = gid
        self._member_id = member_id
        self._window = max(concurrency, PARTITION_WINDOW)
        self._revoke = revoke
        self._registry = registry
        self.received = Received(ctx, gid, group)
        self.parts: dict[int, Puller] = {}
        self.draining: set[int] = set()
        self.catching_up: dict[int, list[NatsDelivery]] = {}
        self.shared: Puller | None = None
        self.owner: Ownership | None = None
        self.stopping = False
        self.left = False
        self._pulling = False
        self._arrived = asyncio.Event()
        self._shared_done = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._refill_task: asyncio.Task[None] | None = None
        self._early: asyncio.Task[None] | None = None

    @property
    def group(self) -> str:
        return self._group

    @property
    def gid(self) -> str:
        return self._gid

    @property
    def member_id(self) -> str:
        return self._member_id

    @property
    def ack_wait(self) -> float:
        return self.ctx.groups.ack_wait(self._gid)

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        """Open the unkeyed consumer, then take this member's partitions."""
        ctx = self.ctx
        self._registry.add(self)
        self.shared = Puller(
            ctx.nc, ctx.settings.stream, f"{self._gid}-u", -1, self._arrive, self._shared_idle
        )
        await self.shared.start()
        self.owner = Ownership(ctx, self, ctx.settings.partitions)
        await self.owner.start()

    async def activate(self, lane: int) -> None:
        """Start pulling the partition ``lane`` (its lease was just acquired)."""
        if self.stopping or lane in self.parts:
            return
        ctx = self.ctx
        puller = Puller(
            ctx.nc,
            ctx.settings.stream,
            f"{self._gid}-k{lane}",
            lane,
            self._arrive,
            self.refill_soon,
        )
        await puller.start()
        self.parts[lane] = puller
        self.draining.discard(lane)
        info = await ctx.js.consumer_info(ctx.settings.stream, puller.consumer)
        if info.num_ack_pending:
            # The previous owner left messages unacknowledged: gather all of them
            # before any is handed out, whatever order their redeliveries come in.
            self.catching_up[lane] = []
            self._spawn(self._catch_up(lane, puller.consumer, info.num_ack_pending))
        self.refill_soon()

    async def _catch_up(self, lane: int, consumer: str, pending: int) -> None:
        """Hold the partition's arrivals until this member has every message still
        unacknowledged on its consumer (the count shrinks as the previous owner's
        last acks land), then buffer them in stream order."""
        ctx = self.ctx
        deadline = time.monotonic() + self.ack_wait + 2.0
        try:
            while time.monotonic() < deadline and lane in self.catching_up:
                if len(self.catching_up[lane]) >= pending:
                    break
                await asyncio.sleep(0.05)
                info = await ctx.js.consumer_info(ctx.settings.stream, consumer)
                pending = info.num_ack_pending
        finally:
            gathered = self.catching_up.pop(lane, [])
            for d in sorted(gathered, key=by_seq):
                if d.state is _BUFFERED:
                    self.received.buffer.append(d)
            if gathered:
                self._arrived.set()

    async def release_lane(self, lane: int) -> None:
        """Hand the partition ``lane`` over: stop pulling it, let the runtime give
        back what it holds of it (running handlers finish first), then give back
        the rest in stream order (for the partition's next owner)."""
        self.draining.add(lane)
        self.catching_up.pop(lane, None)
        puller = self.parts.pop(lane, None)
        if puller is not None:
            await puller.finish()
        received = self.received
        out = [d for d in received.tracked if d.lane == lane and d.state is _OUT]
        if out:
            await self._revoke(out)
        await received.give_back_all([d for d in received.tracked if d.lane == lane], _BUFFERED)
        await self.ctx.nc.flush()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def halted(self) -> bool:
        """True once the member stops (a method: the flag changes while awaiting)."""
        return self.stopping

    def wake(self) -> None:
        """The member stops: stop pulling, and give back at once what it received
        and cannot hold back a running message of its key."""
        if self.stopping:
            return
        self.stopping = True
        self._arrived.set()
        self._shared_done.set()
        self._early = asyncio.get_running_loop().create_task(self._release_early())

    async def _release_early(self) -> None:
        # partitions: let their short requests end (a drain could race with a
        # delivery, stalling the partition's next owner for ack_wait)
        partitions = [p.finish() for p in self.parts.values()]
        shared = [] if self.shared is None else [self.shared.drain()]
        await asyncio.gather(*partitions, *shared)
        tracked = self.received.tracked
        busy = {d.lane for d in tracked if d.state is _OUT and d.lane >= 0}
        await self.received.give_back_all([d for d in tracked if d.lane not in busy], _BUFFERED)

    async def leave(self) -> None:
        """The member is gone: give back what it still buffers, then free its
        partitions."""
        if self.left:
            return
        self.wake()
        self.left = True
        try:
            assert self._early is not None
            await self._early
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.received.give_back_all(list(self.received.tracked), _BUFFERED)
            if self.owner is not None:
                await self.owner.stop()
        finally:
            self._registry.discard(self)

    def reconnected(self) -> None:
        """After a reconnect the server forgot the open pull requests."""
        for puller in (self.shared, *self.parts.values()):
            if puller is not None:
                puller.forget()
        self.refill_soon()

    # -- arrivals -----------------------------------------------------------------------
    async def _arrive(self, puller: Puller, msg: Any) -> None:
        d = await self.received.add(puller.lane, msg)
        if d is None:
            return
        waiting = self.catching_up.get(d.lane)
        if waiting is not None:
            waiting.append(d)
            return
        self.received.buffer.append(d)
        self._arrived.set()

    # -- fetching -----------------------------------------------------------------------
    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        """Hand out up to ``max_messages``: what is buffered, else what the unkeyed
        consumer has now (one request that ends at once), else wait up to
        ``max_wait`` seconds for the first message of a one-message request. The
        unkeyed consumer is pulled only here, so nothing of it stays requested
        once this returns (another member can have it)."""
        self._pulling = True
        if self.stopping:
            return []
        try:
            return await self._fetch(max_messages, max_wait)
        except DRIVER_ERRORS as e:
            raise driver_error("fetching", e) from e

    async def _fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        buffer = self.received.buffer
        out = self._take(max_messages)
        if out:
            return out
        self.refill_soon()
        deadline = time.monotonic() + wait
        shared = self.shared
        assert shared is not None
        if shared.idle:
            self._shared_done.clear()
            await shared.pull(max_messages, no_wait=True)
            await self._wait(self._shared_done, deadline)
            out = self._take(max_messages)
            if out or self.halted():
                return out
            remaining = deadline - time.monotonic() - 0.01
            if shared.idle and remaining > 0.01:
                await shared.pull(1, remaining)
        self._arrived.clear()
        if not buffer:
            await self._wait(self._arrived, deadline)
        if self.halted():
            return []
        more = max_messages - len(buffer)
        if buffer and more > 0 and shared.idle:
            # the first message came: take the rest of its burst in the same hand-out
            self._shared_done.clear()
            await shared.pull(more, no_wait=True)
            await self._wait(self._shared_done, time.monotonic() + 1.0)
        return self._take(max_messages)

    @staticmethod
    async def _wait(event: asyncio.Event, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _shared_idle(self) -> None:
        self._shared_done.set()

    def _take(self, n: int) -> list[Delivery]:
        return self.received.take(n, self.draining)

    def refill_soon(self) -> None:
        """Open pull requests on the owned partitions where there is room (soon, in a task)."""
        if self._refill_task is None and not self.stopping and self._pulling:
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        try:
            for lane, puller in list(self.parts.items()):
                if puller.idle:
                    room = self._window - self.received.per_lane.get(lane, 0)
                    if lane in self.catching_up:
                        room = max(room, CATCH_UP_WINDOW)
                    if room > 0:
                        await puller.pull(room)
        except Exception as e:
            log.warning("group %r: pulling failed: %s", self._group, e)
        finally:
            self._refill_task = None

    # -- settling -----------------------------------------------------------------------
    async def ack(self, delivery: Delivery) -> None:
        d = _own(delivery)
        if d.state is not _OUT:
            return
        try:
            await d.msg.ack()
        except DRIVER_ERRORS as e:
            raise driver_error("acknowledging", e) from e
        self.received.forget(d)
        self.refill_soon()
        if d.letter:
            await self.ctx.letter_done(d.letter)
        if d.saved:
            self.ctx.forget_runs(self._gid, d.seq)

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        d = _own(delivery)
        if d.state is not _OUT:
            return
        self.received.forget(d)
        with translated("giving a message back"):
            await self.received.give_back(d, delay, d.attempt if count else d.attempt - 1)

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        await self.received.give_back_all([_own(d) for d in deliveries], _OUT)

    async def extend(self, deliveries: Sequence[Delivery]) -> None:
        """Tell the server the member still works on everything it holds (what the
        runtime holds, ``deliveries``, and what is buffered here), in stream order."""
        with translated("extending"):
            for d in self.received.in_stream_order():
                if d.state is not _GONE:
                    await d.msg.in_progress()

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        d = _own(delivery)
        if d.state is not _OUT:
            return
        with translated("dead-lettering"):
            rel, body = letter_record(self._gid, self.pattern, d, self._group, error)
            await self.ctx.meta.put(rel, body)
            await d.msg.term()
        self.received.forget(d)
        self.refill_soon()
        if d.saved:
            self.ctx.forget_runs(self._gid, d.seq)

    async def starting(self, delivery: Delivery) -> None:
        d = _own(delivery)
        if d.nd == 1 and d.attempt == 1:  # a first run of a first hand-out: not written
            return
        with translated("recording a handler run"):
            await self.received.record_runs(d, d.attempt)
