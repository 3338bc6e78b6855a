"""The pending deadlines of every instance of one saga, in due order.

The feeder keeps one index per saga class, fed by the saga's own events
(each holds the instance's pending deadlines after its reaction), and pops
the deadlines that are due. Entries are never removed from the heap in
place: a popped entry that no longer matches the instance's pending deadline
(cancelled, rescheduled, fired, finished) is skipped.

Example::

    index = DeadlineIndex()
    index.apply(event.data)                 # a SagaReacted event's data
    for key, name, deadline in index.pop_due(now):
        ...
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .records import Deadline, key_token

__all__ = ["DeadlineIndex"]


class DeadlineIndex:
    """Pending deadlines by instance, and a heap of them by due time."""

    def __init__(self) -> None:
        # (due, seq) tuples, not objects: the collector need not walk them
        self._pending: dict[str, dict[str, tuple[datetime, int]]] = {}
        self._keys: dict[str, str] = {}
        self._heap: list[tuple[datetime, int, str, str]] = []
        self._open: set[str] = set()
        self._finished: set[str] = set()
        self._count = 0

    def apply(self, data: Mapping[str, Any]) -> None:
        """Take in a saga event's data: the instance's deadlines after it."""
        key = data.get("key")
        if not isinstance(key, str):
            return
        token = key_token(key)
        self._keys[token] = key
        if data.get("finished"):
            self._open.discard(token)
            self._finished.add(token)
            self._count -= len(self._pending.pop(token, {}))
            return
        self._open.add(token)
        raw = data.get("deadlines") or {}
        deadlines = {
            name: (datetime.fromisoformat(d["due"]), int(d["seq"])) for name, d in raw.items()
        }
        old = self._pending.get(token, {})
        for name, (due, seq) in deadlines.items():
            if old.get(name) != (due, seq):
                heapq.heappush(self._heap, (due, seq, token, name))
        self._count += len(deadlines) - len(old)
        if deadlines:
            self._pending[token] = deadlines
        else:
            self._pending.pop(token, None)

    def _valid(self, entry: tuple[datetime, int, str, str]) -> bool:
        due, seq, token, name = entry
        return self._pending.get(token, {}).get(name) == (due, seq)

    def next_due(self) -> datetime | None:
        """The due time of the earliest pending deadline, or None."""
        heap = self._heap
        while heap and not self._valid(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, until: datetime) -> list[tuple[str, str, Deadline]]:
        """``(key, name, deadline)`` of the pending deadlines due at or before
        ``until``, earliest first; each is popped once (the instance keeps it
        pending until its firing is recorded)."""
        out: list[tuple[str, str, Deadline]] = []
        heap = self._heap
        while heap and heap[0][0] <= until:
            entry = heapq.heappop(heap)
            if self._valid(entry):
                due, seq, token, name = entry
                out.append((self._keys[token], name, Deadline(due, seq)))
        return out

    @property
    def pending(self) -> int:
        """How many deadlines are pending."""
        return self._count

    @property
    def open_instances(self) -> int:
        return len(self._open)

    @property
    def finished_instances(self) -> int:
        return len(self._finished)
