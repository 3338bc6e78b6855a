"""In-process message bus: fast, not durable, for tests and single-process apps.

``open_bus("memory://")`` returns a fresh bus each call. Messages are kept
encoded, so each delivery decodes its own copy, exactly like the durable
backends. URL option: ``dedup_window`` (seconds, default 120).

Per-key order (:attr:`~eventflux.bus.backend.KeyOrder.BACKEND`): each group
keeps, per key, a queue of its pending messages; only the head is ever ready,
leased or waiting for redelivery (see :mod:`.state`).

Example::

    async with await open_bus("memory://?dedup_window=60") as bus:
        await bus.publish("orders.created", {"id": 1})
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from typing import Self
from urllib.parse import SplitResult

from ..._internal.urls import float_option, reject_unknown_options
from ...resilience.inbox import Inbox, MemoryInbox
from ..backend import (
    DEFAULT_DEDUP_WINDOW,
    BusBackend,
    Envelope,
    GroupStats,
    KeyOrder,
    MemberHandle,
    Revoke,
    StoredLetter,
)
from ..subscription import check_seconds
from .member import MemoryMember
from .state import EntryState, GroupQueue, MemoryState

__all__ = ["MemoryBusBackend"]


class MemoryBusBackend(BusBackend):
    """Message bus held in this process's memory (one event loop)."""

    durable: bool = False
    key_order: KeyOrder = KeyOrder.BACKEND

    def __init__(self, *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> None:
        self.dedup_window = check_seconds("dedup_window", dedup_window)
        self._state = MemoryState()
        self._queues: dict[tuple[str, str], GroupQueue] = {}
        self._routes: dict[str, list[GroupQueue]] = {}
        self._seq = 0
        self._dedup: OrderedDict[str, float] = OrderedDict()
        self._checkpoints: dict[str, int] = {}

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str]) -> Self:
        window = float_option(options, "dedup_window", DEFAULT_DEDUP_WINDOW)
        reject_unknown_options(options, "memory")
        return cls(dedup_window=window)

    async def close(self) -> None:
        for q in self._queues.values():
            q.notify()

    # -- publishing ---------------------------------------------------------------------
    def _route(self, subject: str) -> list[GroupQueue]:
        route = self._routes.get(subject)
        if route is None:
            route = [q for q in self._queues.values() if q.match(subject)]
            if len(self._routes) > 10_000:
                self._routes.clear()
            self._routes[subject] = route
        return route

    async def publish(self, envelopes: Sequence[Envelope]) -> list[bool]:
        now = time.monotonic()
        dedup = self._dedup
        while dedup:
            first, expires = next(iter(dedup.items()))
            if expires > now:
                break
            del dedup[first]
        results: list[bool] = []
        touched: set[GroupQueue] = set()
        for env in envelopes:
            if env.explicit_id:
                seen = dedup.get(env.msg_id)
                if seen is not None and seen > now:
                    results.append(False)
                    continue
                dedup.pop(env.msg_id, None)
                dedup[env.msg_id] = now + self.dedup_window
            results.append(True)
            route = self._route(env.subject)
            if not route:
                continue
            # kept until handled: a right-sized copy (an encoder's bytes may sit in
            # a buffer several times their size)
            env.data = memoryview(env.data).tobytes()
            for q in route:
                self._seq += 1
                q.add(self._seq, env)
                touched.add(q)
        for q in touched:
            q.notify()
        return results

    # -- consuming ----------------------------------------------------------------------
    def declare(self, group: str, pattern: str) -> None:
        self._queue(group, pattern)

    def _queue(self, group: str, pattern: str) -> GroupQueue:
        q = self._queues.get((group, pattern))
        if q is None:
            q = self._queues[(group, pattern)] = GroupQueue(group, pattern)
            self._routes.clear()
        return q

    async def join(
        self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
    ) -> MemberHandle:
        return MemoryMember(self._state, self._queue(group, pattern), ack_wait=ack_wait)

    # -- dead letters -------------------------------------------------------------------
    async def list_letters(self, group: str | None) -> list[StoredLetter]:
        out: list[StoredLetter] = []
        for lt in sorted(self._state.letters.values(), key=lambda lt: lt.dead_at):
            if group is not None and lt.queue.group != group:
                continue
            env = lt.env
            out.append(
                StoredLetter(
                    lt.id,
                    lt.queue.group,
                    env.subject,
                    env.data,
                    env.msg_id,
                    env.key,
                    lt.error,
                    lt.deliveries,
                    lt.dead_at,
                )
            )
        return out

    async def retry_letter(self, letter_id: str) -> bool:
        lt = self._state.letters.get(letter_id)
        if lt is None:
            return False
        if not lt.retrying:
            lt.retrying = True
            self._seq += 1
            lt.queue.add(self._seq, lt.env, letter_id)
            lt.queue.notify()
        return True

    async def purge_letters(self, group: str | None) -> int:
        letters = self._state.letters
        doomed = [i for i, lt in letters.items() if group is None or lt.queue.group == group]
        for i in doomed:
            del letters[i]
        return len(doomed)

    # -- introspection ------------------------------------------------------------------
    async def group_stats(self) -> list[GroupStats]:
        letters = Counter(lt.queue for lt in self._state.letters.values())
        out: list[GroupStats] = []
        for q in self._queues.values():
            pending = in_flight = 0
            oldest: float | None = None
            for e in q.entries.values():
                if e.state is EntryState.TIMED and e.lease:
                    in_flight += 1
                else:
                    pending += 1
                at = e.env.published_at
                if oldest is None or at < oldest:
                    oldest = at
            out.append(
                GroupStats(
                    q.group, q.pattern, len(q.wakeups), pending, in_flight, letters[q], oldest
                )
            )
        return out

    # -- inbox and checkpoints ----------------------------------------------------------
    def inbox(self) -> Inbox:
        return MemoryInbox()

    async def load_checkpoint(self, name: str) -> int | None:
        return self._checkpoints.get(name)

    async def save_checkpoint(self, name: str, value: int) -> None:
        self._checkpoints[name] = value
