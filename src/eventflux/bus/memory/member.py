"""One member of a consumer group on the in-memory bus: its
:class:`~eventflux.bus.backend.MemberHandle`.

A fetch leases ready entries of the group's queue (a lease number marks the
current holder, so a settle after an expired lease does nothing); a nak turns
an entry ready again or times it out until its redelivery; an ack or a dead
letter removes it and lets the next entry of its key go. An entry counts the
handler runs that started (``starting`` and a counted nak record them): a
delivery's attempt is one more.

Example::

    member = MemoryMember(state, queue, ack_wait=30.0)
    deliveries = await member.fetch(16, 2.0)
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ...events import uuid7
from ..backend import Delivery, MemberHandle
from .state import Entry, EntryState, GroupQueue, Letter, MemoryState

__all__ = ["MemoryDelivery", "MemoryMember"]


@dataclass(slots=True, eq=False)
class MemoryDelivery(Delivery):
    """A delivery of the in-memory bus: its queue, entry and lease number."""

    queue: GroupQueue
    entry: Entry
    lease: int


def _own(d: Delivery) -> MemoryDelivery:
    if not isinstance(d, MemoryDelivery):
        raise TypeError(f"not a delivery of the in-memory bus: {d!r}")
    return d


class MemoryMember(MemberHandle):
    """A member's handle on its group's queue."""

    def __init__(self, state: MemoryState, queue: GroupQueue, *, ack_wait: float) -> None:
        self._state = state
        self._queue = queue
        self._ack_wait = ack_wait
        self._stopped = False
        self._wakeup = asyncio.Event()
        queue.wakeups.add(self._wakeup)

    @property
    def ack_wait(self) -> float:
        return self._ack_wait

    def wake(self) -> None:
        self._stopped = True
        self._wakeup.set()

    async def leave(self) -> None:
        self._queue.wakeups.discard(self._wakeup)

    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        if self._stopped:
            return []
        self._wakeup.clear()
        q = self._queue
        now = time.monotonic()
        q.promote(now)
        out: list[Delivery] = []
        ready, entries, state = q.ready, q.entries, self._state
        while ready and len(out) < max_messages:
            seq = heapq.heappop(ready)
            e = entries.get(seq)
            if e is None or e.state is not EntryState.READY:
                continue
            e.lease = lease = state.next_lease()
            q.time_out(e, now + self._ack_wait)
            env = e.env
            out.append(
                MemoryDelivery(
                    env.subject,
                    env.data,
                    env.msg_id,
                    env.key,
                    env.headers,
                    e.runs + 1,
                    env.published_at,
                    q,
                    e,
                    lease,
                )
            )
        if out:
            return out
        due = q.next_due()
        wait = max_wait if due is None else max(0.0, min(max_wait, due - now))
        try:
            await asyncio.wait_for(self._wakeup.wait(), wait)
        except TimeoutError:
            pass
        return []

    @staticmethod
    def _current(d: MemoryDelivery) -> bool:
        """True while ``d`` still holds its entry's lease."""
        e = d.entry
        return d.queue.entries.get(e.seq) is e and e.lease == d.lease

    async def ack(self, delivery: Delivery) -> None:
        d = _own(delivery)
        q, e = d.queue, d.entry
        if q.entries.get(e.seq) is not e:
            return
        q.remove(e)
        if e.letter_id is not None:
            self._state.letters.pop(e.letter_id, None)
        q.notify()

    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        d = _own(delivery)
        if not self._current(d):
            return
        q, e = d.queue, d.entry
        e.lease = 0
        e.runs = d.attempt if count else d.attempt - 1
        if delay <= 0:
            q.make_ready(e)
        else:
            q.time_out(e, time.monotonic() + delay)
        q.notify()

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            await self.nak(d, 0.0, count=False)

    async def starting(self, delivery: Delivery) -> None:
        d = _own(delivery)
        if self._current(d):
            d.entry.runs = d.attempt

    async def extend(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        until = time.monotonic() + self._ack_wait
        for delivery in deliveries:
            d = _own(delivery)
            if self._current(d) and d.entry.state is EntryState.TIMED:
                d.queue.time_out(d.entry, until)

    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        d = _own(delivery)
        q, e = d.queue, d.entry
        if q.entries.get(e.seq) is not e:
            return
        q.remove(e)
        letters = self._state.letters
        letter = letters.get(e.letter_id) if e.letter_id is not None else None
        if letter is None:
            letter_id = e.letter_id or str(uuid7())
            letters[letter_id] = Letter(letter_id, q, e.env, error, d.attempt)
        else:
            letter.error = error
            letter.deliveries = d.attempt
            letter.dead_at = time.time()
            letter.retrying = False
        q.notify()
