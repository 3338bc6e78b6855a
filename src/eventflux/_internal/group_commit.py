"""Group commit: one writer per database; the requests that queue up while it
commits share its next transaction.

The design, used by every writer of eventflux:

- A caller submits a *request* (a payload, its size, and a future of the
  caller's event loop) and awaits the future.
- One writer takes every request queued while its previous transaction ran,
  within :class:`GroupLimits`, and hands the group to the backend's *commit*
  function. That function runs one transaction for the whole group and
  returns one :data:`Outcome` per request: the caller's result, or an
  exception that only that caller gets (one conflicting append fails alone,
  the others commit), or :data:`DEFER` to put the request back at the head of
  the queue for the next group (e.g. a retry of a request of the same group).
- The writer delivers each outcome to its caller's future. A request whose
  caller gave up (cancelled future) before its group started is skipped.
- Closing finishes what is queued; later submissions raise the writer's
  *closed* error.

Two drivers share that design, one per kind of driver API:

- :class:`ThreadGroupWriter`: a thread with a blocking connection (SQLite).
  Outcomes reach each caller's loop with one ``call_soon_threadsafe`` per loop
  and group. An optional *tick* runs on the thread between transactions, at
  least every ``tick_every`` seconds (e.g. watching the file for other
  processes' commits, housekeeping). With ``gather``, a group that would serve
  fewer than half the callers of the last one (of at least
  :data:`GATHER_AFTER`) waits up to that many seconds for more: the callers
  the last transaction answered are about to submit again, and their event
  loop, busy with those answers, holds the GIL the writer needs.
- :class:`TaskGroupWriter`: an asyncio task with an async connection
  (PostgreSQL); it starts on the first submission.

The commit function owns everything database-specific: the transaction,
isolation of each request inside it (a SAVEPOINT per request on SQLite, see
:mod:`eventflux._internal.sqlite_writer`; planning each request against the locked
state on PostgreSQL), retries, and translating driver errors.

Example::

    writer = TaskGroupWriter(commit_group, limits=GroupLimits(1000), closed=closed_error)
    result = await writer.submit(payload, size=len(payload))
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeAlias, TypeVar

__all__ = [
    "DEFER",
    "Defer",
    "GroupLimits",
    "Outcome",
    "Request",
    "TaskGroupWriter",
    "ThreadGroupWriter",
    "settle",
]

log = logging.getLogger("eventflux")

#: A transaction serving at least this many requests lets the writer gather
#: the next group a moment (see ThreadGroupWriter's ``gather``).
GATHER_AFTER: Final = 8

P = TypeVar("P")  # what a request carries to the commit function
R = TypeVar("R")  # what its caller gets back


class Defer(enum.Enum):
    """The outcome that puts a request back at the head of the queue."""

    DEFER = "defer"


DEFER: Final = Defer.DEFER

#: What the commit function returns for one request.
Outcome: TypeAlias = R | BaseException | Defer


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """How much one transaction takes: at most ``requests`` requests and, when
    ``size`` is set, at most that total of the requests' sizes (the first
    request of a group is taken whatever its size)."""

    requests: int
    size: int | None = None


class Request(Generic[P, R]):
    """One caller's request: its payload, its size and the future it awaits."""

    __slots__ = ("future", "loop", "payload", "size")

    def __init__(
        self, payload: P, size: int, loop: asyncio.AbstractEventLoop, future: asyncio.Future[R]
    ) -> None:
        self.payload = payload
        self.size = size
        self.loop = loop
        self.future = future


def settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    """Give ``outcome`` to ``future`` (on the future's loop), unless its caller
    gave up meanwhile."""
    if future.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_all(items: list[tuple[asyncio.Future[R], R | BaseException]]) -> None:
    for future, outcome in items:
        settle(future, outcome)


def _sorted_outcomes(
    group: list[Request[P, R]], outcomes: Sequence[Outcome[R]]
) -> tuple[list[tuple[Request[P, R], R | BaseException]], list[Request[P, R]]]:
    """Split a group's outcomes into those to deliver and the deferred requests."""
    if len(outcomes) != len(group):
        error = RuntimeError(
            f"the commit function returned {len(outcomes)} outcomes for {len(group)} requests"
        )
        return [(r, error) for r in group], []
    done: list[tuple[Request[P, R], R | BaseException]] = []
    deferred: list[Request[P, R]] = []
    for request, outcome in zip(group, outcomes, strict=True):
        if outcome is DEFER:
            deferred.append(request)
        else:
            assert not isinstance(outcome, Defer)
            done.append((request, outcome))
    return done, deferred


class ThreadGroupWriter(Generic[P, R]):
    """A writer thread: ``commit(group)`` runs on it, one group at a time.

    ``closed()`` makes the error a submission after :meth:`stop` raises;
    ``finish()`` runs on the thread when it ends (e.g. closing its
    connection); ``tick()`` runs on the thread between transactions, at least
    every ``tick_every`` seconds.
    """

    def __init__(
        self,
        name: str,
        commit: Callable[[list[Request[P, R]]], Sequence[Outcome[R]]],
        *,
        limits: GroupLimits,
        closed: Callable[[], BaseException],
        finish: Callable[[], None] | None = None,
        tick: Callable[[], None] | None = None,
        tick_every: float | None = None,
        gather: float = 0.0,
    ) -> None:
        if (tick is None) != (tick_every is None):
            raise ValueError("tick and tick_every go together")
        self._gather = gather
        self._commit = commit
        self._limits = limits
        self._closed = closed
        self._finish = finish
        self._tick = tick
        self._tick_every = tick_every
        self._next_tick = time.monotonic() + (tick_every or 0.0)
        self._queue: queue.SimpleQueue[Request[P, R] | None] = queue.SimpleQueue()
        self._stopped = False
        #: Counters for tests and benchmarks: requests submitted, transactions
        #: run, and requests those transactions served.
        self.submitted = 0
        self.transactions = 0
        self.requests = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, payload: P, size: int = 1) -> asyncio.Future[R]:
        """Queue a request; the returned future gets its outcome."""
        if self._stopped:
            raise self._closed()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self.submitted += 1
        self._queue.put(Request(payload, size, loop, future))
        return future

    def pending(self) -> int:
        """Requests waiting for the next transaction."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Finish the queued requests, then end the thread (blocks until it has)."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join()

    # -- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._serve()
        finally:
            if self._finish is not None:
                self._finish()

    def _serve(self) -> None:
        q = self._queue
        max_requests, max_size = self._limits.requests, self._limits.size
        every = self._tick_every
        carried: list[Request[P, R]] = []  # deferred, or over the size limit
        stopping = False
        gather = self._gather
        last = 0  # requests of the last transaction
        deadline: float | None = None  # of the wait for more requests
        while True:
            group, carried = carried, []
            if not group:
                if stopping:
                    return
                try:
                    first = q.get() if every is None else q.get(timeout=every)
                except queue.Empty:  # idle for tick_every seconds
                    self._tick_if_due()
                    continue
                if first is None:
                    return
                group = [first]
            size = sum(r.size for r in group) if max_size is not None else 0
            while len(group) < max_requests and not stopping:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    # The last transaction served many callers and this one would
                    # serve fewer than half as many: the others are likely about to
                    # submit (their event loop is busy with the last results), so
                    # wait for them a moment, at most ``gather`` seconds in all.
                    if not gather or carried or last < GATHER_AFTER or 2 * len(group) >= last:
                        break
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + gather
                    if now >= deadline:
                        break
                    try:
                        item = q.get(timeout=deadline - now)
                    except queue.Empty:
                        break
                if item is None:
                    stopping = True
                    break
                if max_size is not None:
                    size += item.size
                    if size > max_size:
                        carried.append(item)
                        break
                group.append(item)
            deadline = None
            last = len(group)
            carried = self._run_group(group) + carried
            if every is not None:
                self._tick_if_due()

    def _tick_if_due(self) -> None:
        now = time.monotonic()
        if self._tick is not None and self._tick_every is not None and now >= self._next_tick:
            self._next_tick = now + self._tick_every
            try:
                self._tick()
            except Exception:  # the writer must live on: its callers wait for it
                log.exception("the tick of the writer thread %r failed", self._thread.name)

    def _run_group(self, group: list[Request[P, R]]) -> list[Request[P, R]]:
        live = [r for r in group if not r.future.done()]  # skip callers that gave up
        outcomes: Sequence[Outcome[R]]
        try:
            outcomes = self._commit(live) if live else []
        except Exception as e:  # the commit function failed as a whole: everyone gets it
            outcomes = [e] * len(live)
        self.transactions += 1
        self.requests += len(group)
        done, deferred = _sorted_outcomes(live, outcomes)
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], R | BaseException]]
        ] = {}
        for request, outcome in done:
            by_loop.setdefault(request.loop, []).append((request.future, outcome))
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle_all, items)
        return deferred


class TaskGroupWriter(Generic[P, R]):
    """A writer task on the event loop: ``await commit(group)`` runs in it, one
    group at a time. The task starts with the first submission.

    ``commit`` should return an outcome for every request; if it raises, every
    request of the group gets that error (and a cancellation cancels them and
    goes on).
    """

    def __init__(
        self,
        commit: Callable[[list[Request[P, R]]], Awaitable[Sequence[Outcome[R]]]],
        *,
        limits: GroupLimits,
        closed: Callable[[], BaseException],
        name: str,
    ) -> None:
        self._commit = commit
        self._limits = limits
        self._closed = closed
        self._name = name
        self._queue: deque[Request[P, R]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def submit(self, payload: P, size: int = 1) -> R:
        """Queue a request and wait for its outcome."""
        if self._closing:
            raise self._closed()
        loop = asyncio.get_running_loop()
        request: Request[P, R] = Request(payload, size, loop, loop.create_future())
        self._queue.append(request)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=self._name)
        return await request.future

    async def close(self, *, grace: float = 30.0) -> None:
        """Finish the group in flight (waiting at most ``grace`` seconds, then
        cancelling it), fail the queued requests, stop."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            self._wake.set()
            try:
                await asyncio.wait_for(task, grace)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        while self._queue:
            settle(self._queue.popleft().future, self._closed())

    # -- the task -------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._closing:
                return
            group = self._take()
            if group:
                await self._run_group(group)

    def _take(self) -> list[Request[P, R]]:
        group: list[Request[P, R]] = []
        max_requests, max_size = self._limits.requests, self._limits.size
        size = 0
        while self._queue and len(group) < max_requests:
            request = self._queue[0]
            if request.future.done():  # the caller was cancelled before we started
                self._queue.popleft()
                continue
            if max_size is not None and group and size + request.size > max_size:
                break
            self._queue.popleft()
            group.append(request)
            size += request.size
        return group

    async def _run_group(self, group: list[Request[P, R]]) -> None:
        try:
            outcomes = await self._commit(group)
        except BaseException as e:
            for request in group:
                settle(request.future, e)
            if not isinstance(e, Exception):
                raise
            return
        done, deferred = _sorted_outcomes(group, outcomes)
        for request, outcome in done:
            settle(request.future, outcome)
        for request in reversed(deferred):
            self._queue.appendleft(request)
