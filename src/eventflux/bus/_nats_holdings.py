"""What one member of the NATS bus holds: fetched, unsettled messages.

Every fetched message is *tracked* until it is settled (acked,
dead-lettered, given back). Keyed messages of the partitions the member owns
queue in one *lane* per key; only a lane's head is ever ready, handed out or
waiting for its backoff. :class:`Holdings` keeps that bookkeeping, gives
messages back to the server (a release, in stream order) and tells the
server the member still works on them (``in_progress``), all in stream order
so that, should the member die, the server redelivers them in that order.

Delivery counts: JetStream counts deliveries itself (``num_delivered``). When
a delivery must not count (a release, a circuit-breaker refusal) or a keyed
retry happens in the member without the server, the difference is kept in
the meta stream (``adj.<group id>.<seq>``) and read back when the message is
delivered again: the attempt is ``num_delivered + adjustment``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._nats_member import NatsMember
    from .nats import NatsBus

__all__ = ["GONE", "HELD", "OUT", "READY", "WAIT", "Holdings", "Tracked"]

log = logging.getLogger("eventflux.bus.nats")

#: States of a tracked message: settled, ready to hand out, handed out (running),
#: waiting for its backoff, queued behind the head of its key.
GONE, READY, OUT, WAIT, HELD = -1, 0, 1, 2, 3


class Tracked:
    """A fetched, unsettled message and what the member knows about it."""

    __slots__ = (
        "at",
        "attempt",
        "data",
        "headers",
        "key",
        "lane",
        "letter",
        "member",
        "msg",
        "msg_id",
        "nd",
        "next",
        "saved",
        "seq",
        "state",
        "subject",
        "timer",
    )

    def __init__(
        self, member: NatsMember, msg: Any, lane: int, nd: int, seq: int, saved: int
    ) -> None:
        self.member = member
        self.msg = msg
        self.lane = lane
        self.nd = nd
        self.seq = seq
        self.saved = saved
        self.next = nd + saved
        self.attempt = 0
        self.state = READY
        self.timer: asyncio.TimerHandle | None = None
        self.key: str | None = None
        self.letter: str | None = None
        self.subject = ""
        self.msg_id = ""
        self.headers: bytes | dict[str, str] = {}
        self.at = 0.0
        self.data = b""


class Holdings:
    """The messages one member holds, and how it gives them back or keeps them."""

    def __init__(self, bus: NatsBus, group: str, gid: str) -> None:
        self.bus = bus
        self.group = group
        self.gid = gid
        self.out = 0
        self.ready: deque[Tracked] = deque()
        self.lanes: dict[str, deque[Tracked]] = {}
        self.tracked: set[Tracked] = set()
        self.by_seq: dict[int, Tracked] = {}
        self.per_lane: dict[int, int] = {}
        self.event = asyncio.Event()
        self.settled = asyncio.Event()
        self._last_extend = 0.0

    def refill_soon(self) -> None:
        """Open pull requests where there is room (the member's hook)."""

    def _place(self, t: Tracked) -> None:
        """Queue an arrived message: ready, or behind the running message of its key."""
        if t.lane >= 0 and t.key is not None:
            queue = self.lanes.get(t.key)
            if queue is not None:
                t.state = HELD
                queue.append(t)
                return
            self.lanes[t.key] = deque((t,))
        self.ready.append(t)
        self.event.set()

    def _forget(self, t: Tracked) -> None:
        if t.state == OUT:
            self.out -= 1
        t.state = GONE
        self.tracked.discard(t)
        if self.by_seq.get(t.seq) is t:
            del self.by_seq[t.seq]
        self.per_lane[t.lane] -= 1

    def _gone(self, t: Tracked) -> None:
        """``t`` is settled for good: drop it and let its key's next message go."""
        self._forget(t)
        key = t.key
        if t.lane >= 0 and key is not None:
            queue = self.lanes.get(key)
            if queue and queue[0] is t:
                queue.popleft()
                while queue and queue[0].state == GONE:  # given back meanwhile
                    queue.popleft()
                if queue:
                    head = queue[0]
                    head.state = READY
                    self.ready.append(head)
                    self.event.set()
                else:
                    del self.lanes[key]
        self.settled.set()
        self.refill_soon()

    # -- giving messages back ---------------------------------------------------------
    async def _save(self, t: Tracked, saved: int) -> None:
        await self.bus._save_adjustment(self.gid, t.seq, saved)
        t.saved = saved

    async def _give_back(self, t: Tracked, delay: float) -> None:
        """Nak ``t`` so its next server delivery carries attempt ``t.next``."""
        if t.timer is not None:
            t.timer.cancel()
            t.timer = None
        wanted = t.next - t.nd - 1
        if wanted != t.saved:
            await self._save(t, wanted)
        await t.msg.nak(delay=delay if delay > 0 else None)

    async def _release(self, batch: list[Tracked]) -> None:
        """Give back unsettled messages that are not running, in stream order; their
        keys' lanes go with them (a release covers whole partitions)."""
        keys: set[str] = set()
        for t in sorted(batch, key=lambda x: x.seq):
            if t.state in (READY, WAIT, HELD) and t in self.tracked:
                self._forget(t)
                try:
                    await self._give_back(t, 0.0)
                except Exception as e:  # the message comes back after ack_wait anyway
                    log.warning("group %r: releasing a message failed: %s", self.group, e)
                if t.key is not None:
                    keys.add(t.key)
        for key in keys:
            queue = self.lanes.get(key)
            if queue is not None and all(x.state == GONE for x in queue):
                del self.lanes[key]
        self.settled.set()

    # -- extending leases ---------------------------------------------------------------
    async def extend(self, also: list[Tracked]) -> None:
        """Tell the server the member still works on these (and on all it holds)."""
        self._last_extend = time.monotonic()
        mine = [t for t in self.tracked if t.state != OUT]
        for t in sorted((*mine, *also), key=lambda x: x.seq):
            if t.state >= 0:
                await t.msg.in_progress()

    async def _extend_loop(self) -> None:
        while True:
            period = self.bus._ack_wait(self.gid) / 3
            await asyncio.sleep(period)
            if time.monotonic() - self._last_extend >= period * 0.9:
                try:
                    await self.extend([])
                except Exception as e:
                    log.warning("group %r: extending failed: %s", self.group, e)
