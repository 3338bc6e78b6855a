"""One member of a consumer group on the NATS bus: the handle behind ``_fetch``.

A member pulls from its group's unkeyed consumer (shared by every member, at
most ``concurrency`` messages fetched) and from the partition consumers it
owns (see :mod:`._nats_owner`). Only the owner of a partition pulls from it,
so every keyed message of a partition reaches one member, in stream order;
the member keeps one *lane* per key and hands out only its head. A failed
keyed message waits here for its backoff, still holding its key; a failed
unkeyed one goes back to the server with a delayed nak. The bookkeeping of
what the member holds is in :mod:`._nats_holdings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from . import _nats_wire as wire
from ._nats_holdings import OUT, READY, WAIT, Holdings, Tracked
from ._nats_pull import Puller
from .message import Delivery

if TYPE_CHECKING:
    from ._nats_owner import Ownership
    from .nats import NatsBus

__all__ = ["NatsMember"]

log = logging.getLogger("eventflux.bus.nats")

#: Messages a member buffers per owned partition, at least.
PARTITION_WINDOW: Final = 64


class NatsMember(Holdings):
    """The state of one member; ``NatsBus`` hooks call into it."""

    def __init__(self, bus: NatsBus, group: str, pattern: str, gid: str, member_id: str) -> None:
        super().__init__(bus, group, gid)
        self.pattern = pattern
        self.member_id = member_id
        self.capacity = 0
        self.parts: dict[int, Puller] = {}
        self.draining: set[int] = set()
        self.catching_up: dict[int, list[Tracked]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.shared: Puller | None = None
        self.owner: Ownership | None = None
        self.stopping = False
        self.left = False
        self.shared_done = asyncio.Event()
        self._refill_task: asyncio.Task[None] | None = None
        self._early: asyncio.Task[None] | None = None
        self._extender: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------
    async def start(self, owner: Ownership) -> None:
        bus = self.bus
        self.shared = Puller(
            bus.nc, bus.settings.stream, f"{self.gid}-u", -1, self._arrive, self._shared_idle
        )
        await self.shared.start()
        self.owner = owner
        self._extender = asyncio.get_running_loop().create_task(self._extend_loop())
        await owner.start()

    async def activate(self, lane: int) -> None:
        """Start pulling the partition ``lane`` (its lease was just acquired)."""
        if self.stopping or lane in self.parts:
            return
        bus = self.bus
        puller = Puller(
            bus.nc, bus.settings.stream, f"{self.gid}-k{lane}", lane, self._arrive, self.refill_soon
        )
        await puller.start()
        self.parts[lane] = puller
        self.draining.discard(lane)
        info = await bus.js.consumer_info(bus.settings.stream, puller.consumer)
        if info.num_ack_pending:
            # The previous owner left messages unacknowledged: gather all of them
            # before any starts, whatever order their redeliveries come back in.
            self.catching_up[lane] = []
            self._spawn(self._catch_up(lane, puller.consumer, info.num_ack_pending))
        self.refill_soon()

    async def _catch_up(self, lane: int, consumer: str, pending: int) -> None:
        """Hold the partition's arrivals until this member has every message still
        unacknowledged on its consumer (the count shrinks as the previous owner's
        last acks land), then queue them in stream order."""
        bus = self.bus
        deadline = time.monotonic() + bus._ack_wait(self.gid) + 2.0
        try:
            while time.monotonic() < deadline and lane in self.catching_up:
                if len(self.catching_up[lane]) >= pending:
                    break
                await asyncio.sleep(0.05)
                info = await bus.js.consumer_info(bus.settings.stream, consumer)
                pending = info.num_ack_pending
        finally:
            for t in sorted(self.catching_up.pop(lane, []), key=lambda x: x.seq):
                if t.state == READY:
                    self._place(t)

    async def release_lane(self, lane: int) -> None:
        """Stop pulling ``lane``, let its running handlers settle, then give its other
        messages back to the server in stream order (for the partition's next owner)."""
        self.draining.add(lane)
        self.catching_up.pop(lane, None)
        puller = self.parts.pop(lane, None)
        if puller is not None:
            await puller.finish()
        while any(t.lane == lane and t.state == OUT for t in self.tracked):
            self.settled.clear()
            await self.settled.wait()
        await self._release([t for t in self.tracked if t.lane == lane])
        await self.bus.nc.flush()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def halted(self) -> bool:
        """True once the member stops (a method: the flag changes while awaiting)."""
        return self.stopping

    def stop(self) -> None:
        """The port stops this member: stop pulling and give back what has not
        started and cannot hold back a running message of its key."""
        if self.stopping:
            return
        self.stopping = True
        self.event.set()
        self.shared_done.set()
        self._early = asyncio.get_running_loop().create_task(self._release_early())

    async def _release_early(self) -> None:
        # partitions: let their short requests end (a drain could race with a
        # delivery, stalling the partition's next owner for ack_wait)
        partitions = [p.finish() for p in self.parts.values()]
        shared = [] if self.shared is None else [self.shared.drain()]
        await asyncio.gather(*partitions, *shared)
        busy = {t.lane for t in self.tracked if t.state == OUT and t.lane >= 0}
        await self._release([t for t in self.tracked if t.lane not in busy])

    async def leave(self) -> None:
        """The member is gone: release everything it holds, then its partitions."""
        if self.left:
            return
        self.stop()
        self.left = True
        assert self._early is not None
        await self._early
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._release(list(self.tracked))
        if self._extender is not None:
            self._extender.cancel()
        if self.owner is not None:
            await self.owner.stop()

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
        saved = 0
        if nd > 1:
            saved = await self.bus._load_adjustment(self.gid, seq)
        t = Tracked(self, msg, puller.lane, nd, seq, saved)
        bus = self.bus
        meta = wire.read_meta(msg.headers)
        t.subject = wire.split_subject(msg.subject, bus._prefix_len)
        t.msg_id = meta.msg_id or f"{bus.settings.stream}-{seq}"
        t.key = meta.key
        t.letter = meta.letter
        t.headers = meta.headers.encode() if meta.headers else {}
        t.at = meta.published_at or time.time()
        t.data = msg.data
        self.tracked.add(t)
        self.by_seq[seq] = t
        self.per_lane[t.lane] = self.per_lane.get(t.lane, 0) + 1
        waiting = self.catching_up.get(t.lane)
        if waiting is not None:
            waiting.append(t)
            return
        self._place(t)

    # -- fetching -----------------------------------------------------------------------
    async def fetch(self, max_messages: int, wait: float) -> list[Delivery]:
        """Hand out up to ``max_messages``: what is buffered, else what the unkeyed
        consumer has now (one request that ends at once), else wait up to
        ``wait`` seconds for the first message of a one-message request. The
        unkeyed consumer is pulled only here, so nothing of it stays requested
        once this returns (another member can have it)."""
        self.capacity = max_messages + self.out
        if self.stopping:
            return []
        out = await self._take(max_messages)
        if out:
            return out
        self.refill_soon()
        deadline = time.monotonic() + wait
        shared = self.shared
        assert shared is not None
        if shared.idle:
            self.shared_done.clear()
            await shared.pull(max_messages, no_wait=True)
            await self._wait(self.shared_done, deadline)
            out = await self._take(max_messages)
            if out or self.halted():
                return out
            remaining = deadline - time.monotonic() - 0.01
            if shared.idle and remaining > 0.01:
                await shared.pull(1, remaining)
        self.event.clear()
        if not self.ready:
            await self._wait(self.event, deadline)
        if self.halted():
            return []
        more = max_messages - len(self.ready)
        if self.ready and more > 0 and shared.idle:
            # the first message came: take the rest of its burst in the same hand-out
            self.shared_done.clear()
            await shared.pull(more, no_wait=True)
            await self._wait(self.shared_done, time.monotonic() + 1.0)
        return await self._take(max_messages)

    @staticmethod
    async def _wait(event: asyncio.Event, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _shared_idle(self) -> None:
        self.shared_done.set()

    async def _take(self, n: int) -> list[Delivery]:
        out: list[Delivery] = []
        ready = self.ready
        while ready and len(out) < n:
            t = ready.popleft()
            if t.state != READY or t.lane in self.draining:
                continue
            t.state = OUT
            t.attempt = t.next
            t.next = t.attempt + 1
            self.out += 1
            if t.attempt - t.nd != t.saved:  # a retry made here: keep the count across a crash
                await self._save(t, t.attempt - t.nd)
            out.append(Delivery(t.subject, t.data, t.msg_id, t.key, t.headers, t.attempt, t.at, t))
        return out

    def refill_soon(self) -> None:
        """Open pull requests where credit allows (soon, in a task)."""
        if self._refill_task is None and not self.stopping and self.capacity:
            self._refill_task = asyncio.get_running_loop().create_task(self._refill())

    async def _refill(self) -> None:
        try:
            window = max(self.capacity, PARTITION_WINDOW)
            for lane, puller in list(self.parts.items()):
                if puller.idle:
                    room = window - self.per_lane.get(lane, 0)
                    if lane in self.catching_up:
                        room = max(room, 1024)
                    if room > 0:
                        await puller.pull(room)
        except Exception as e:
            log.warning("group %r: pulling failed: %s", self.group, e)
        finally:
            self._refill_task = None

    # -- settling -----------------------------------------------------------------------
    async def ack(self, t: Tracked) -> None:
        if t.state != OUT:
            return
        await t.msg.ack()
        self._gone(t)
        if t.letter:
            await self.bus._letter_done(t.letter)
        if t.saved:
            self.bus._forget_adjustment(self.gid, t.seq)

    async def nak(self, t: Tracked, delay: float, count: bool) -> None:
        if t.state != OUT:
            return
        t.next = t.attempt + (1 if count else 0)
        if t.lane >= 0 and t.key is not None:
            self.out -= 1
            t.state = WAIT  # a keyed retry waits here, still holding its key
            if not (self.stopping or t.lane in self.draining):
                t.timer = asyncio.get_running_loop().call_later(delay, self._due, t)
            self.settled.set()
            self.refill_soon()
            return
        self._forget(t)
        self.settled.set()
        await self._give_back(t, delay)

    def _due(self, t: Tracked) -> None:
        t.timer = None
        if t.state == WAIT and not self.stopping:
            t.state = READY
            self.ready.append(t)
            self.event.set()

    async def dead_letter(self, t: Tracked, group: str, error: str) -> None:
        if t.state != OUT:
            return
        await self.bus._write_letter(self, t, group, error)
        await t.msg.term()
        self._gone(t)
        if t.saved:
            self.bus._forget_adjustment(self.gid, t.seq)

    def reconnected(self) -> None:
        """After a reconnect the server forgot the open pull requests."""
        for puller in (self.shared, *self.parts.values()):
            if puller is not None:
                puller.forget()
        self.refill_soon()
