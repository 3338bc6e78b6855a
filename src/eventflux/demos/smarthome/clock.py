"""The smart home's clocks: the engine and the devices tell time through one.

A :class:`Clock` says what time it is (an aware UTC ``datetime``) and sleeps
until a given time. :class:`SystemClock` is the wall clock; :class:`ManualClock`
moves only when a test (or the scripted evening) moves it, waking whatever
sleeps until a time it passed; :class:`FileClock` reads the time from a small
file, so a test can drive the clock of another process (the crash tests kill
and restart the engine in a child process and move its time from outside).

Example::

    clock = ManualClock(datetime(2026, 1, 15, 18, 0, tzinfo=UTC))
    task = asyncio.create_task(clock.sleep_until(clock.now() + timedelta(minutes=5)))
    await clock.advance(timedelta(minutes=5))    # the task's sleep ends
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FileClock", "ManualClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What the engine and the simulator need of time."""

    def now(self) -> datetime:
        """The time now, an aware UTC datetime."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once :meth:`now` is ``when`` or later."""
        ...


class SystemClock:
    """The wall clock.

    Example::

        await SystemClock().sleep_until(datetime.now(UTC) + timedelta(seconds=1))
    """

    #: the longest single sleep: the clock is looked at again after it (a
    #: machine that slept or a clock that was set does not make a timer late)
    longest_sleep = 30.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        while True:
            left = (when - self.now()).total_seconds()
            if left <= 0:
                return
            await asyncio.sleep(min(left, self.longest_sleep))


class ManualClock:
    """A clock that moves only when told to (tests, the scripted evening).

    ``advance`` and ``set`` wake every sleeper whose time has come, in time
    order, and let the event loop run the woken tasks before returning.

    Example::

        clock = ManualClock(datetime(2026, 1, 15, 2, 13, tzinfo=UTC))
        await clock.advance(timedelta(minutes=5))
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise TypeError("a ManualClock starts at an aware datetime")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        if when <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._order), future))
        await future

    async def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (never backwards) and wake the sleepers due."""
        if when.tzinfo is None:
            raise TypeError("set the clock to an aware datetime")
        when = when.astimezone(UTC)
        while self._sleepers and self._sleepers[0][0] <= when:
            due, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, due)
            if not future.done():
                future.set_result(None)
            for _ in range(5):  # let the woken task run (and schedule what it does)
                await asyncio.sleep(0)
        self._now = max(self._now, when)
        await asyncio.sleep(0)

    async def advance(self, by: timedelta | float) -> None:
        """Move the clock forward by ``by`` (a timedelta or seconds)."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        await self.set(self._now + step)


class FileClock:
    """A clock read from a file holding a POSIX timestamp (seconds, a float):
    another process moves it by writing the file (:meth:`write`).

    Example::

        FileClock.write(path, datetime(2026, 1, 15, 2, 13, tzinfo=UTC))
        clock = FileClock(path)          # in the engine's process
    """

    def __init__(self, path: str | Path, *, poll: float = 0.01) -> None:
        self.path = Path(path)
        self.poll = poll

    @staticmethod
    def write(path: str | Path, when: datetime) -> None:
        """Set the time of every FileClock reading ``path`` (atomically)."""
        target = Path(path)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(repr(when.timestamp()))
        os.replace(tmp, target)

    def now(self) -> datetime:
        return datetime.fromtimestamp(float(self.path.read_text()), UTC)

    async def sleep_until(self, when: datetime) -> None:
        while self.now() < when:  # noqa: ASYNC110 - another process moves this clock
            await asyncio.sleep(self.poll)
