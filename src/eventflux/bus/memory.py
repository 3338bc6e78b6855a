"""In-process message bus: fast, not durable, for tests and single-process apps.

``open_bus("memory://")`` returns a fresh bus each call. Messages are kept
encoded, so each delivery decodes its own copy, exactly like the durable
backends. URL option: ``dedup_window`` (seconds, default 120).

Per-key order: each group keeps, per key, a queue of its pending messages;
only the head is ever ready, leased or waiting for redelivery, and the next
one becomes ready when the head is acked or dead-lettered.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import SplitResult

from .._internal.urls import float_option, reject_unknown_options
from ..codec import Codec
from ..events import uuid7
from .base import DEFAULT_DEDUP_WINDOW, MessageBus
from .message import DeadLetter, Delivery, Envelope
from .subjects import compile_pattern

__all__ = ["MemoryBus"]

_READY, _TIMED, _PARKED = 0, 1, 2


class _Entry:
    __slots__ = ("deliveries", "env", "lease", "letter_id", "seq", "stamp", "state")

    def __init__(self, seq: int, env: Envelope, state: int, letter_id: str | None) -> None:
        self.seq = seq
        self.env = env
        self.state = state
        self.deliveries = 0
        self.lease = 0  # 0 = not leased
        self.stamp = 0
        self.letter_id = letter_id


class _Handle:
    __slots__ = ("queue", "stopped", "wakeup")

    def __init__(self, queue: _Queue) -> None:
        self.queue = queue
        self.stopped = False
        self.wakeup = asyncio.Event()


class _Queue:
    """One consumer group: (name, pattern)."""

    def __init__(self, group: str, pattern: str) -> None:
        self.group = group
        self.pattern = pattern
        self.match: Callable[[str], bool] = compile_pattern(pattern)
        self.entries: dict[int, _Entry] = {}
        self.ready: list[int] = []
        self.timed: list[tuple[float, int, int]] = []  # (due, seq, stamp)
        self.keys: dict[str, deque[int]] = {}
        self.handles: set[_Handle] = set()

    def notify(self) -> None:
        for h in self.handles:
            h.wakeup.set()

    def add(self, seq: int, env: Envelope, letter_id: str | None = None) -> None:
        key = env.key
        if key is None:
            state = _READY
        else:
            chain = self.keys.get(key)
            if chain is None:
                self.keys[key] = deque((seq,))
                state = _READY
            else:
                chain.append(seq)
                state = _PARKED
        self.entries[seq] = _Entry(seq, env, state, letter_id)
        if state == _READY:
            heapq.heappush(self.ready, seq)

    def remove(self, e: _Entry) -> None:
        del self.entries[e.seq]
        key = e.env.key
        if key is None:
            return
        chain = self.keys[key]
        chain.popleft()
        if chain:
            nxt = self.entries[chain[0]]
            nxt.state = _READY
            heapq.heappush(self.ready, nxt.seq)
        else:
            del self.keys[key]

    def time_out(self, e: _Entry, due: float) -> None:
        e.state = _TIMED
        e.stamp += 1
        heapq.heappush(self.timed, (due, e.seq, e.stamp))

    def promote(self, now: float) -> None:
        timed = self.timed
        while timed and timed[0][0] <= now:
            _, seq, stamp = heapq.heappop(timed)
            e = self.entries.get(seq)
            if e is None or e.stamp != stamp or e.state != _TIMED:
                continue
            e.state = _READY
            e.lease = 0
            heapq.heappush(self.ready, seq)

    def next_due(self) -> float | None:
        timed = self.timed
        while timed:
            _, seq, stamp = timed[0]
            e = self.entries.get(seq)
            if e is not None and e.stamp == stamp and e.state == _TIMED:
                return timed[0][0]
            heapq.heappop(timed)
        return None


class _Letter:
    __slots__ = ("dead_at", "deliveries", "env", "error", "id", "queue", "retrying")

    def __init__(self, id: str, queue: _Queue, env: Envelope, error: str, deliveries: int):
        self.id = id
        self.queue = queue
        self.env = env
        self.error = error
        self.deliveries = deliveries
        self.dead_at = datetime.now(UTC)
        self.retrying = False


class MemoryBus(MessageBus):
    """Message bus held in this process's memory (one event loop)."""

    durable = False

    def __init__(
        self, *, dedup_window: float = DEFAULT_DEDUP_WINDOW, codec: Codec | None = None
    ) -> None:
        super().__init__(dedup_window=dedup_window, codec=codec)
        self._queues: dict[tuple[str, str], _Queue] = {}
        self._routes: dict[str, list[_Queue]] = {}
        self._seq = 0
        self._leases = 0
        self._dedup: OrderedDict[str, float] = OrderedDict()
        self._letters: dict[str, _Letter] = {}
        self._checkpoints: dict[str, int] = {}

    @classmethod
    async def _open(
        cls, url: SplitResult, options: dict[str, str], *, codec: Codec | None = None
    ) -> Self:
        window = float_option(options, "dedup_window", DEFAULT_DEDUP_WINDOW)
        reject_unknown_options(options, "memory")
        return cls(dedup_window=window, codec=codec)

    async def _close(self) -> None:
        for q in self._queues.values():
            for h in q.handles:
                h.stopped = True
                h.wakeup.set()

    # -- publishing ---------------------------------------------------------------------
    def _route(self, subject: str) -> list[_Queue]:
        route = self._routes.get(subject)
        if route is None:
            route = [q for q in self._queues.values() if q.match(subject)]
            if len(self._routes) > 10_000:
                self._routes.clear()
            self._routes[subject] = route
        return route

    async def _publish(self, envelopes: list[Envelope]) -> list[bool]:
        now = time.monotonic()
        dedup = self._dedup
        while dedup:
            first, expires = next(iter(dedup.items()))
            if expires > now:
                break
            del dedup[first]
        results: list[bool] = []
        touched: set[_Queue] = set()
        for env in envelopes:
            if env.explicit_id:
                seen = dedup.get(env.msg_id)
                if seen is not None and seen > now:
                    results.append(False)
                    continue
                dedup.pop(env.msg_id, None)
                dedup[env.msg_id] = now + self.dedup_window
            results.append(True)
            for q in self._route(env.subject):
                self._seq += 1
                q.add(self._seq, env)
                touched.add(q)
        for q in touched:
            q.notify()
        return results

    # -- consuming ----------------------------------------------------------------------
    async def _join(self, group: str, pattern: str) -> _Handle:
        q = self._queues.get((group, pattern))
        if q is None:
            q = self._queues[(group, pattern)] = _Queue(group, pattern)
            self._routes.clear()
        h = _Handle(q)
        q.handles.add(h)
        return h

    async def _leave(self, handle: _Handle) -> None:
        handle.queue.handles.discard(handle)

    def _wake(self, handle: _Handle) -> None:
        handle.stopped = True
        handle.wakeup.set()

    async def _fetch(
        self, handle: _Handle, max_messages: int, ack_wait: float, max_wait: float
    ) -> list[Delivery]:
        if handle.stopped:
            return []
        handle.wakeup.clear()
        q = handle.queue
        now = time.monotonic()
        q.promote(now)
        out: list[Delivery] = []
        while q.ready and len(out) < max_messages:
            seq = heapq.heappop(q.ready)
            e = q.entries.get(seq)
            if e is None or e.state != _READY:
                continue
            self._leases += 1
            e.lease = self._leases
            e.deliveries += 1
            q.time_out(e, now + ack_wait)
            env = e.env
            out.append(
                Delivery(
                    env.subject,
                    env.data,
                    env.msg_id,
                    env.key,
                    env.headers,
                    e.deliveries,
                    env.published_at,
                    (q, e, e.lease),
                )
            )
        if out:
            return out
        due: float | None = q.next_due()
        wait: float = max_wait if due is None else max(0.0, min(max_wait, due - now))
        try:
            await asyncio.wait_for(handle.wakeup.wait(), wait)
        except TimeoutError:
            pass
        return []

    @staticmethod
    def _current(d: Delivery) -> tuple[_Queue, _Entry] | None:
        q, e, lease = d.ref
        if q.entries.get(e.seq) is not e or e.lease != lease:
            return None
        return q, e

    async def _ack(self, d: Delivery) -> None:
        q, e, _ = d.ref
        if q.entries.get(e.seq) is not e:
            return
        q.remove(e)
        if e.letter_id is not None:
            self._letters.pop(e.letter_id, None)
        q.notify()

    async def _nak(self, d: Delivery, delay: float, *, count: bool) -> None:
        cur = self._current(d)
        if cur is None:
            return
        q, e = cur
        e.lease = 0
        if not count:
            e.deliveries -= 1
        if delay <= 0:
            e.state = _READY
            e.stamp += 1
            heapq.heappush(q.ready, e.seq)
        else:
            q.time_out(e, time.monotonic() + delay)
        q.notify()

    async def _extend(self, deliveries: list[Delivery], ack_wait: float) -> None:
        until = time.monotonic() + ack_wait
        for d in deliveries:
            cur = self._current(d)
            if cur is not None and cur[1].state == _TIMED:
                cur[0].time_out(cur[1], until)

    async def _dead_letter(self, d: Delivery, group: str, error: str) -> None:
        q, e, _ = d.ref
        if q.entries.get(e.seq) is not e:
            return
        q.remove(e)
        letter = self._letters.get(e.letter_id) if e.letter_id is not None else None
        if letter is None:
            letter_id = e.letter_id or str(uuid7())
            self._letters[letter_id] = _Letter(letter_id, q, e.env, error, e.deliveries)
        else:
            letter.error = error
            letter.deliveries = e.deliveries
            letter.dead_at = datetime.now(UTC)
            letter.retrying = False
        q.notify()

    # -- dead letters -------------------------------------------------------------------
    async def _dlq_list(
        self, group: str | None, subject: str | None, limit: int | None
    ) -> list[DeadLetter]:
        match = compile_pattern(subject) if subject is not None else None
        out: list[DeadLetter] = []
        for lt in sorted(self._letters.values(), key=lambda lt: lt.dead_at):
            if group is not None and lt.queue.group != group:
                continue
            if match is not None and not match(lt.env.subject):
                continue
            if limit is not None and len(out) >= limit:
                break
            env = lt.env
            out.append(
                DeadLetter(
                    lt.id,
                    lt.queue.group,
                    env.subject,
                    self._letter_data(env.data),
                    env.msg_id,
                    env.key,
                    lt.error,
                    lt.deliveries,
                    lt.dead_at,
                )
            )
        return out

    async def _dlq_retry(self, letter_id: str) -> bool:
        lt = self._letters.get(letter_id)
        if lt is None:
            return False
        if not lt.retrying:
            lt.retrying = True
            self._seq += 1
            lt.queue.add(self._seq, lt.env, letter_id)
            lt.queue.notify()
        return True

    async def _dlq_purge(self, group: str | None) -> int:
        doomed = [i for i, lt in self._letters.items() if group is None or lt.queue.group == group]
        for i in doomed:
            del self._letters[i]
        return len(doomed)

    # -- checkpoints --------------------------------------------------------------------
    async def _load_checkpoint(self, name: str) -> int | None:
        return self._checkpoints.get(name)

    async def _save_checkpoint(self, name: str, value: int) -> None:
        self._checkpoints[name] = value

    def _debug_state(self) -> dict[str, Any]:
        """Counts per group (for tests and the dashboard)."""
        return {f"{g}:{p}": len(q.entries) for (g, p), q in self._queues.items()}
