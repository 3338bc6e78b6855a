"""What the in-memory bus keeps: one queue per consumer group, dead letters,
and the counters its members share (:class:`MemoryState`, the small context
object the backend hands to its members).

A group's queue keeps its entries in publish order. Per-key order: each key
has a queue of its pending entries; only the head is ever ready, leased or
waiting for a redelivery, and the next one becomes ready when the head is
acked or dead-lettered.

Example::

    queue = GroupQueue("payments", "orders.*")
    queue.add(1, envelope)          # ready, or parked behind its key's head
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Callable
from enum import IntEnum

from ..backend import Envelope
from ..subjects import compile_pattern

__all__ = ["Entry", "EntryState", "GroupQueue", "Letter", "MemoryState"]


class EntryState(IntEnum):
    """Where a group's copy of a message is."""

    READY = 0
    """Can be fetched."""
    TIMED = 1
    """Leased until a time, or waiting for a redelivery until then."""
    PARKED = 2
    """Behind an older message of its key."""


class Entry:
    """One group's copy of a message."""

    __slots__ = ("env", "lease", "letter_id", "runs", "seq", "stamp", "state")

    def __init__(self, seq: int, env: Envelope, state: EntryState, letter_id: str | None) -> None:
        self.seq = seq
        self.env = env
        self.state = state
        self.runs = 0  # handler runs that started (a delivery's attempt is runs + 1)
        self.lease = 0  # 0 = not leased
        self.stamp = 0
        self.letter_id = letter_id


class GroupQueue:
    """The entries of one consumer group ``(name, pattern)``."""

    def __init__(self, group: str, pattern: str) -> None:
        self.group = group
        self.pattern = pattern
        self.match: Callable[[str], bool] = compile_pattern(pattern)
        self.entries: dict[int, Entry] = {}
        self.ready: list[int] = []
        self.timed: list[tuple[float, int, int]] = []  # (due, seq, stamp)
        self.keys: dict[str, deque[int]] = {}
        self.wakeups: set[asyncio.Event] = set()

    def notify(self) -> None:
        for event in self.wakeups:
            event.set()

    def add(self, seq: int, env: Envelope, letter_id: str | None = None) -> None:
        key = env.key
        if key is None:
            state = EntryState.READY
        else:
            chain = self.keys.get(key)
            if chain is None:
                self.keys[key] = deque((seq,))
                state = EntryState.READY
            else:
                chain.append(seq)
                state = EntryState.PARKED
        self.entries[seq] = Entry(seq, env, state, letter_id)
        if state is EntryState.READY:
            heapq.heappush(self.ready, seq)

    def remove(self, e: Entry) -> None:
        del self.entries[e.seq]
        key = e.env.key
        if key is None:
            return
        chain = self.keys[key]
        chain.popleft()
        if chain:
            nxt = self.entries[chain[0]]
            nxt.state = EntryState.READY
            heapq.heappush(self.ready, nxt.seq)
        else:
            del self.keys[key]

    def make_ready(self, e: Entry) -> None:
        e.state = EntryState.READY
        e.stamp += 1
        heapq.heappush(self.ready, e.seq)

    def time_out(self, e: Entry, due: float) -> None:
        e.state = EntryState.TIMED
        e.stamp += 1
        heapq.heappush(self.timed, (due, e.seq, e.stamp))

    def promote(self, now: float) -> None:
        timed = self.timed
        while timed and timed[0][0] <= now:
            _, seq, stamp = heapq.heappop(timed)
            e = self.entries.get(seq)
            if e is None or e.stamp != stamp or e.state is not EntryState.TIMED:
                continue
            e.state = EntryState.READY
            e.lease = 0
            heapq.heappush(self.ready, seq)

    def next_due(self) -> float | None:
        timed = self.timed
        while timed:
            _, seq, stamp = timed[0]
            e = self.entries.get(seq)
            if e is not None and e.stamp == stamp and e.state is EntryState.TIMED:
                return timed[0][0]
            heapq.heappop(timed)
        return None


class Letter:
    """A dead letter of the in-memory bus."""

    __slots__ = ("dead_at", "deliveries", "env", "error", "id", "queue", "retrying")

    def __init__(
        self, id: str, queue: GroupQueue, env: Envelope, error: str, deliveries: int
    ) -> None:
        self.id = id
        self.queue = queue
        self.env = env
        self.error = error
        self.deliveries = deliveries
        self.dead_at = time.time()
        self.retrying = False


class MemoryState:
    """The letters and counters a bus's members share."""

    def __init__(self) -> None:
        self.letters: dict[str, Letter] = {}
        self._leases = 0

    def next_lease(self) -> int:
        self._leases += 1
        return self._leases
