"""The engine's pending timers, ordered by due time.

Every timer is durable: it was recorded (``smarthome.TimerSet``) in the
stream that owns it before it was put here, and it leaves when its firing,
cancelling or skipping is recorded. This is only the in-memory schedule.

Example::

    timers.add(Timer("automation-door", "for:0:front.door", due, "for", {...}))
    for timer in timers.pop_due(clock.now()): ...
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Timer", "Timers"]


@dataclass(slots=True)
class Timer:
    """A pending timer: its owner stream, its name there, when and what for."""

    stream: str
    name: str
    due: datetime
    purpose: str  # for, time, delay, wait, waitfor
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""  # the TimerSet event

    @property
    def key(self) -> tuple[str, str]:
        return (self.stream, self.name)


class Timers:
    """Pending timers by key, with the earliest due first."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, tuple[str, str]]] = []
        self._by_key: dict[tuple[str, str], Timer] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._by_key

    def get(self, key: tuple[str, str]) -> Timer | None:
        return self._by_key.get(key)

    def add(self, timer: Timer) -> None:
        """Schedule ``timer`` (replacing one of the same key)."""
        self._by_key[timer.key] = timer
        heapq.heappush(self._heap, (timer.due, next(self._order), timer.key))

    def remove(self, key: tuple[str, str]) -> Timer | None:
        return self._by_key.pop(key, None)

    def _clean(self) -> None:
        heap = self._heap
        while heap:
            due, _, key = heap[0]
            timer = self._by_key.get(key)
            if timer is not None and timer.due == due:
                return
            heapq.heappop(heap)

    def next_due(self) -> datetime | None:
        """When the earliest pending timer is due (None when none is pending)."""
        self._clean()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, until: datetime) -> list[Timer]:
        """Remove and return the timers due at or before ``until``, earliest first."""
        out: list[Timer] = []
        while True:
            self._clean()
            if not self._heap or self._heap[0][0] > until:
                return out
            _, _, key = heapq.heappop(self._heap)
            timer = self._by_key.pop(key)
            out.append(timer)

    def all(self) -> list[Timer]:
        return sorted(self._by_key.values(), key=lambda t: t.due)
