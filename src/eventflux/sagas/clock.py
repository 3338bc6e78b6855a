"""Clocks for sagas: the system clock, and a manual one for tests.

A saga runtime reads the time from a clock when a reaction starts (a relative
deadline counts from there) and asks the clock to wait until the next
deadline is due. :class:`ManualClock` moves only when a test moves it, so a
test of a fifteen-minute deadline runs in milliseconds and never sleeps.

Example::

    clock = ManualClock()
    app.sagas.clock = clock
    async with app.running():
        ...
        clock.advance(timedelta(minutes=15))   # due deadlines fire now
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "due_time"]


@runtime_checkable
class Clock(Protocol):
    """What a saga runtime needs of a clock."""

    def now(self) -> datetime:
        """The current time, an aware UTC datetime."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once :meth:`now` is at or after ``when``."""
        ...


class SystemClock:
    """The real time (``datetime.now(UTC)``)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        while True:
            left = (when - datetime.now(UTC)).total_seconds()
            if left <= 0:
                return
            await asyncio.sleep(left)

    def __repr__(self) -> str:
        return "<SystemClock>"


class ManualClock:
    """A clock that moves only when told: :meth:`advance` or :meth:`set`.

    It starts at ``start`` (default: the real time now). Waiters whose time
    has come are woken by the move that reached it.

    Example::

        clock = ManualClock()
        clock.advance(60)                      # seconds, or a timedelta
        clock.set(clock.now() + timedelta(hours=1))
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime.now(UTC)
        _check_aware(start)
        self._now = start.astimezone(UTC)
        self._waiters: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds); returns the new time."""
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=_seconds(delta))
        if delta < timedelta(0):
            raise ValueError("a clock cannot go back; advance by a positive amount")
        return self.set(self._now + delta)

    def set(self, when: datetime) -> datetime:
        """Move to ``when`` (an aware datetime, not before now); returns it."""
        _check_aware(when)
        when = when.astimezone(UTC)
        if when < self._now:
            raise ValueError(f"a clock cannot go back from {self._now} to {when}")
        self._now = when
        still: list[tuple[datetime, asyncio.Future[None]]] = []
        for at, fut in self._waiters:
            if fut.done():
                continue
            if at <= when:
                fut.set_result(None)
            else:
                still.append((at, fut))
        self._waiters = still
        return when

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((when, fut))
        await fut

    def __repr__(self) -> str:
        return f"<ManualClock {self._now.isoformat()}>"


def _check_aware(when: object) -> None:
    if not isinstance(when, datetime):
        raise TypeError(f"expected an aware datetime, not {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise TypeError("a naive datetime is ambiguous; give an aware one (tzinfo=UTC)")


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a deadline is seconds, a timedelta or an aware datetime, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"a deadline needs a finite number of seconds, not {value!r}")
    return float(value)


def due_time(when: object, now: datetime) -> datetime:
    """The aware UTC time ``when`` names: seconds or a timedelta count from
    ``now``; an aware datetime is taken as it is (a naive one is a TypeError).

    Example::

        due_time(90, now) == now + timedelta(seconds=90)
    """
    if isinstance(when, datetime):
        _check_aware(when)
        return when.astimezone(UTC)
    if isinstance(when, timedelta):
        return now + when
    return now + timedelta(seconds=_seconds(when))
