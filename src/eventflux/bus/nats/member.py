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
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, Final

from ..backend import Delivery, MemberHandle, Revoke
from . import wire
from .context import NatsContext
from .delivery import DeliveryState, NatsDelivery
from .errors import DRIVER_ERRORS, driver_error, translated
from .letters import letter_record
from .ownership import Ownership
from .puller import Puller

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


def _by_seq(d: NatsDelivery) -> int:
    return d.seq


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
        self.buffer: deque[NatsDelivery] = deque()
        self.tracked: set[NatsDelivery] = set()
        self.by_seq: dict[int, NatsDelivery] = {}
        self.per_lane: dict[int, int] = {}
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
            for d in sorted(gathered, key=_by_seq):
                if d.state is _BUFFERED:
                    self.buffer.append(d)
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
        out = [d for d in self.tracked if d.lane == lane and d.state is _OUT]
        if out:
            await self._revoke(out)
        await self._give_back_buffered([d for d in self.tracked if d.lane == lane])
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
        busy = {d.lane for d in self.tracked if d.state is _OUT and d.lane >= 0}
        await self._give_back_buffered([d for d in self.tracked if d.lane not in busy])

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
            await self._give_back_buffered(list(self.tracked))
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
        nd, seq, pending = wire.ack_fields(msg.reply)
        puller.backlog = pending
        known = self.by_seq.get(seq)
        if known is not None:
            # Redelivered to us while we still hold it (its ack_wait ran out: a
            # stalled event loop). Keep its place; settle the newer delivery.
            known.msg = msg
            known.nd = nd
            return
        ctx = self.ctx
        saved = await ctx.load_adjustment(self._gid, seq) if nd > 1 else 0
        meta = wire.read_meta(msg.headers)
        d = NatsDelivery(
            wire.split_subject(msg.subject, ctx.prefix_len),
            msg.data,
            meta.msg_id or f"{ctx.settings.stream}-{seq}",
            meta.key,
            meta.headers.encode() if meta.headers else {},
            nd + saved,
            meta.published_at or time.time(),
            msg,
            puller.lane,
            seq,
            nd,
            saved,
            meta.letter,
        )
        self.tracked.add(d)
        self.by_seq[seq] = d
        self.per_lane[d.lane] = self.per_lane.get(d.lane, 0) + 1
        waiting = self.catching_up.get(d.lane)
        if waiting is not None:
            waiting.append(d)
            return
        self.buffer.append(d)
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
        if not self.buffer:
            await self._wait(self._arrived, deadline)
        if self.halted():
            return []
        more = max_messages - len(self.buffer)
        if self.buffer and more > 0 and shared.idle:
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
        out: list[Delivery] = []
        buffer, draining = self.buffer, self.draining
        while buffer and len(out) < n:
            d = buffer.popleft()
            if d.state is not _BUFFERED or d.lane in draining:
                continue  # given back meanwhile, or its partition is being handed over
            d.state = _OUT
            out.append(d)
        return out

    def refill_soon(self) -> None:
        """Open pull requests on the owned partitions where there is room (soon, in a task)."""
        if self._refill_task is None and not self.stopping and self._pulling:
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        try:
            for lane, puller in list(self.parts.items()):
                if puller.idle:
                    room = self._window - self.per_lane.get(lane, 0)
                    if lane in self.catching_up:
                        room = max(room, CATCH_UP_WINDOW)
                    if room > 0:
                        await puller.pull(room)
        except Exception as e:
            log.warning("group %r: pulling failed: %s", self._group, e)
        finally:
            self._refill_task = None

    # -- settling -----------------------------------------------------------------------
    def _forget(self, d: NatsDelivery) -> None:
        d.state = _GONE
        self.tracked.discard(d)
        if self.by_seq.get(d.seq) is d:
            del self.by_seq[d.seq]
        self.per_lane[d.lane] -= 1

    async def _give_back(self, d: NatsDelivery, delay: float, attempt: int) -> None:
        """Nak ``d`` so that its next server delivery carries ``attempt``."""
        wanted = attempt - d.nd - 1
        if wanted != d.saved:
            await self.ctx.save_adjustment(self._gid, d.seq, wanted)
            d.saved = wanted
        await d.msg.nak(delay=delay if delay > 0 else None)

    async def _give_back_buffered(self, batch: list[NatsDelivery]) -> None:
        """Give back the buffered messages of ``batch`` (never handed out), in stream
        order, each delivery un-counted."""
        for d in sorted(batch, key=_by_seq):
            if d.state is _BUFFERED:
                self._forget(d)
                try:
                    await self._give_back(d, 0.0, d.attempt)
                except Exception as e:  # the message comes back after ack_wait anyway
                    log.warning("group %r: releasing a message failed: %s", self._group, e)

    async def ack(self, delivery: Delivery) -> None:
        d = _own(delivery)
        if d.state is not _OUT:
            return
        try:
            await d.msg.ack()
        except DRIVER_ERRORS as e:
            raise driver_error("acknowledging", e) from e
        self._forget(d)
        self.refill_soon()
        if d.letter:
            await self.ctx.letter_done(d.letter)
        if d.saved:
            self.ctx.forget_adjustment(self._gid, d.seq)

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        d = _own(delivery)
        if d.state is not _OUT:
            return
        self._forget(d)
        with translated("giving a message back"):
            await self._give_back(d, delay, d.attempt + (1 if count else 0))

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        for d in sorted(map(_own, deliveries), key=_by_seq):
            if d.state is not _OUT:
                continue
            self._forget(d)
            try:
                await self._give_back(d, 0.0, d.attempt)
            except Exception as e:  # the message comes back after ack_wait anyway
                log.warning("group %r: releasing a message failed: %s", self._group, e)

    async def extend(self, deliveries: Sequence[Delivery]) -> None:
        """Tell the server the member still works on everything it holds (what the
        runtime holds, ``deliveries``, and what is buffered here), in stream order."""
        with translated("extending"):
            for d in sorted(self.tracked, key=_by_seq):
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
        self._forget(d)
        self.refill_soon()
        if d.saved:
            self.ctx.forget_adjustment(self._gid, d.seq)

    async def redeliver(self, delivery: Delivery, attempt: int) -> None:
        d = _own(delivery)
        wanted = attempt - d.nd
        if wanted != d.saved:
            with translated("recording a retry"):
                await self.ctx.save_adjustment(self._gid, d.seq, wanted)
            d.saved = wanted
