"""The consumer runtime shared by every backend: one :class:`Consumer` per
``subscribe`` call (one member of a consumer group).

A consumer joins its group through the backend (:meth:`BusBackend.join`) and
loops: while it has free slots it fetches deliveries from its
:class:`~eventflux.bus.backend.MemberHandle`, runs one handler task per
delivery (at most ``concurrency`` at once) and settles each by the outcome
:mod:`.handling` decides: ack on return, a counted ``nak`` with backoff on an
exception (a dead letter once ``max_deliver`` deliveries failed), a dead
letter at once on ``Reject`` or undecodable bytes, and an uncounted ``nak``
when a circuit breaker refused the call. A background task extends the
leases of everything it holds; another cancels a handler that runs past
``handler_timeout`` (the run fails: ``HandlerTimeoutError``). Before a handler
runs, the backend records the run (:meth:`MemberHandle.starting`), so that a
delivery lost before its handler started does not use up ``max_deliver``.
Stopping lets running handlers finish and gives back the deliveries that had
not started; :meth:`Consumer.cancel_running` (the bus's close timeout) then
cancels what still runs and gives its messages back, their runs counted.

Per-key order: the runtime runs the deliveries of one key one at a time, in
the order it fetched them; the others of the key wait behind the running one
and hold no slot. On a backend with :attr:`KeyOrder.BACKEND` (row leases) a
failed keyed message goes back to the backend with its backoff, which keeps
its key held, and anything the runtime holds behind it is released. On a
backend with :attr:`KeyOrder.MEMBER` (key partitions) a failed keyed message
waits here for its backoff, still holding its key, and runs again in this
member; when the backend revokes a key (its partition moves), the runtime
lets the running delivery of the key settle and gives the others back in
order.

Example::

    consumer = Consumer(backend, subscription)   # starts joining and consuming
    consumer.stop()
    await consumer.wait_stopped()               # or, past a deadline: cancel_running()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Collection, Coroutine
from contextlib import suppress
from typing import Any, Final

from ..exceptions import BusClosedError
from .backend import BusBackend, Delivery, KeyOrder, MemberHandle
from .handling import Outcome, Settlement, describe, run_handler
from .observe import MemberObserver
from .subscription import Subscription
from .watchdog import HandlerWatch

__all__ = ["FETCH_TIMEOUT", "Consumer"]

log = logging.getLogger("eventflux.bus")

#: Longest single wait inside ``fetch``; members are woken earlier by events.
FETCH_TIMEOUT: Final = 2.0


class Consumer:
    """One member of a consumer group, running in the bus's event loop."""

    def __init__(self, backend: BusBackend, sub: Subscription) -> None:
        self.backend = backend
        self.sub = sub
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future[None] = loop.create_future()
        self._in_member = backend.key_order is KeyOrder.MEMBER
        self._handle: MemberHandle | None = None
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._settled = asyncio.Event()
        self._held: set[Delivery] = set()
        self._running = 0
        self._ready: deque[Delivery] = deque()
        #: key -> deliveries waiting behind the key's head (present while a head is held)
        self._chains: dict[str, deque[Delivery]] = {}
        #: in-place retries (KeyOrder.MEMBER): delivery -> (next attempt, its timer)
        self._waiting: dict[Delivery, tuple[int, asyncio.TimerHandle]] = {}
        #: ready in-place retries -> the attempt to record before running them
        self._attempts: dict[Delivery, int] = {}
        self._revoked: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch = HandlerWatch(sub.handler_timeout)
        self._observer = MemberObserver(sub)
        self._task = loop.create_task(self._run(), name=f"eventflux-bus-member-{sub.group}")

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        """Stop fetching; deliveries that have not started are given back at once."""
        if self._stopping:
            return
        self._stopping = True
        self._wakeup.set()
        if self._handle is not None:
            self._handle.wake()
        naks, releases = self._take_idle(None)
        if naks or releases:
            self._spawn(self._give_back(naks, releases))

    async def wait_stopped(self) -> None:
        await asyncio.shield(self._task)

    def cancel_running(self) -> int:
        """Cancel the handlers still running (after :meth:`stop`, once the bus's close
        timeout passed): their messages are given back unacked, their runs counted.
        Returns how many were cancelled."""
        return self._watch.cancel_all()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def held(self) -> int:
        """Deliveries fetched and not yet settled."""
        return len(self._held)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        sub = self.sub
        try:
            handle = await self.backend.join(
                sub.group,
                sub.subject,
                ack_wait=sub.ack_wait,
                concurrency=sub.concurrency,
                revoke=self.revoke,
            )
        except Exception as e:
            log.error("group %r cannot join %r: %s", sub.group, sub.subject, describe(e))
            self.joined.set_exception(e)
            self.joined.exception()  # retrieved: bus.ready() reports it
            return
        self._handle = handle
        self.joined.set_result(None)
        if self._stopping:
            handle.wake()
        loop = asyncio.get_running_loop()
        helpers = [loop.create_task(self._extend_loop(handle))]
        if sub.handler_timeout != float("inf"):
            helpers.append(loop.create_task(self._watch.watch()))
        try:
            await self._fetch_loop(handle)
        finally:
            while self._tasks:
                await asyncio.wait(set(self._tasks))
            for helper in helpers:
                helper.cancel()
                with suppress(asyncio.CancelledError):
                    await helper
            try:
                await handle.leave()
            except Exception as e:
                log.warning("group %r: leaving failed: %s", sub.group, describe(e))

    async def _pause(self, seconds: float | None) -> None:
        self._wakeup.clear()
        if seconds is None:
            await self._wakeup.wait()
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    def _free(self) -> int:
        """How many more deliveries to fetch: on KeyOrder.MEMBER, deliveries that
        wait behind their key or for an in-place retry take no slot."""
        if self._in_member:
            return self.sub.concurrency - self._running - len(self._ready)
        return self.sub.concurrency - len(self._held)

    async def _fetch_loop(self, handle: MemberHandle) -> None:
        sub = self.sub
        while not self._stopping:
            breaker = sub.breaker
            if breaker is not None:
                wait = breaker.retry_after
                if wait > 0:
                    await self._pause(wait)
                    continue
            free = self._free()
            if free <= 0:
                await self._pause(None)
                continue
            try:
                batch = await handle.fetch(free, FETCH_TIMEOUT)
            except BusClosedError:
                return
            except Exception as e:
                log.warning("group %r: fetching failed, retrying: %s", sub.group, describe(e))
                await self._pause(0.5)
                continue
            if self.stopping:  # stopped while fetching
                if batch:
                    self._held.update(batch)
                    await self._release(batch)
                return
            for d in batch:
                self._accept(d)
            self._pump()

    async def _extend_loop(self, handle: MemberHandle) -> None:
        while True:
            await asyncio.sleep(max(handle.ack_wait / 3, 0.005))
            try:
                await handle.extend(list(self._held))
            except Exception as e:
                log.warning("group %r: extending leases failed: %s", self.sub.group, e)

    # -- dispatch ----------------------------------------------------------------------
    def _accept(self, d: Delivery) -> None:
        self._held.add(d)
        key = d.key
        if key is not None:
            chain = self._chains.get(key)
            if chain is not None:
                chain.append(d)
                return
            if key in self._revoked:  # handed out just before its key was revoked
                self._spawn(self._release([d]))
                return
            self._chains[key] = deque()
        self._ready.append(d)

    def _pump(self) -> None:
        """Start ready deliveries while slots are free."""
        ready, limit = self._ready, self.sub.concurrency
        while ready and self._running < limit:
            d = ready.popleft()
            self._running += 1
            self._spawn(self._handle_one(d, self._attempts.pop(d, None)))

    def _forget(self, d: Delivery) -> None:
        self._held.discard(d)
        self._settled.set()

    async def _release(self, batch: list[Delivery]) -> None:
        assert self._handle is not None
        try:
            await self._handle.release(batch)
        except Exception as e:
            log.warning("group %r: releasing messages failed: %s", self.sub.group, e)
        finally:
            for d in batch:
                self._held.discard(d)
            self._settled.set()
            self._wakeup.set()

    async def _handle_one(self, d: Delivery, attempt: int | None) -> None:
        assert self._handle is not None
        handle = self._handle
        kept = False
        retry = True
        task = asyncio.current_task()
        assert task is not None
        try:
            if attempt is not None:  # an in-place retry (KeyOrder.MEMBER)
                d.attempt = attempt
            watch = self._watch
            started = watch.begin(task)
            group = self._observer.started(d, started)
            try:
                outcome = await run_handler(self.sub, d, handle, watch.timed_out)
            except BaseException:
                self._observer.ended(group, d, None, 0.0)
                raise
            finally:
                watch.end(task)
            self._observer.ended(group, d, outcome, time.monotonic() - started)
            retry = outcome.settlement is Settlement.NAK
            if retry and self._retries_here(d):
                self._wait(d, outcome.delay, d.attempt + (1 if outcome.count else 0))
                kept = True
                return
            await self._settle(handle, d, outcome)
        except asyncio.CancelledError:
            if not (self._watch.cancelled or task in self._watch.expired):
                raise
            # the bus closed past its timeout (or the watchdog caught the handler
            # outside its call): give the message back, this run counted
            task.uncancel()
            try:
                await handle.nak(d, 0.0, count=True)
            except Exception as e:
                log.warning("group %r: giving back %r failed: %s", self.sub.group, d.msg_id, e)
        except Exception as e:
            log.error("group %r: settling %r failed: %s", self.sub.group, d.msg_id, describe(e))
        finally:
            self._watch.forget(task)
            self._running -= 1
            if not kept:
                self._forget(d)
                self._next_of_key(d, retry)
            self._pump()
            self._wakeup.set()

    def _retries_here(self, d: Delivery) -> bool:
        """KeyOrder.MEMBER: a failed keyed delivery waits here, holding its key."""
        return (
            self._in_member
            and d.key is not None
            and not self._stopping
            and d.key not in self._revoked
        )

    def _wait(self, d: Delivery, delay: float, attempt: int) -> None:
        timer = asyncio.get_running_loop().call_later(delay, self._due, d)
        self._waiting[d] = (attempt, timer)

    def _due(self, d: Delivery) -> None:
        entry = self._waiting.pop(d, None)
        if entry is None:
            return
        self._attempts[d] = entry[0]
        self._ready.appendleft(d)  # the oldest of its key: before fresher work
        self._pump()

    def _next_of_key(self, d: Delivery, retry: bool) -> None:
        key = d.key
        if key is None:
            return
        chain = self._chains.get(key)
        if chain is None:
            return
        if retry or self._stopping or key in self._revoked or not chain:
            del self._chains[key]
            if chain:
                self._spawn(self._release(list(chain)))
            return
        self._ready.append(chain.popleft())

    # -- giving back: stop and revocations -------------------------------------------
    def _take_idle(
        self, keys: Collection[str] | None
    ) -> tuple[list[tuple[Delivery, bool]], list[Delivery]]:
        """Take out the held deliveries that are not running (all of them, or those
        of ``keys``): in-place retries to give back with a nak (and whether their
        failed delivery counts), and the rest to release, each key in order."""
        naks: list[tuple[Delivery, bool]] = []
        releases: list[Delivery] = []
        for d, (attempt, timer) in list(self._waiting.items()):
            if keys is None or d.key in keys:
                timer.cancel()
                del self._waiting[d]
                naks.append((d, attempt > d.attempt))
                if d.key is not None:
                    releases.extend(self._chains.pop(d.key, ()))
        keep: deque[Delivery] = deque()
        for d in self._ready:
            if keys is not None and d.key not in keys:
                keep.append(d)
                continue
            due = self._attempts.pop(d, None)
            if due is not None:
                naks.append((d, due > d.attempt))
            else:
                releases.append(d)
            if d.key is not None:
                releases.extend(self._chains.pop(d.key, ()))
        self._ready = keep
        if not self._in_member:
            # The backend holds each key: what waits behind a running handler can
            # go back at once.
            for key, chain in self._chains.items():
                if keys is None or key in keys:
                    releases.extend(chain)
                    chain.clear()
        return naks, releases

    async def _give_back(self, naks: list[tuple[Delivery, bool]], releases: list[Delivery]) -> None:
        assert self._handle is not None
        for d, count in naks:  # the oldest of their keys: before the rest of the key
            try:
                await self._handle.nak(d, 0.0, count=count)
            except Exception as e:
                log.warning("group %r: giving a message back failed: %s", self.sub.group, e)
            finally:
                self._forget(d)
        if releases:
            await self._release(releases)
        self._wakeup.set()

    async def revoke(self, deliveries: Collection[Delivery]) -> None:
        """Give back what the backend takes from this member (see
        :data:`~eventflux.bus.backend.Revoke`); returns once none of it is held."""
        keys = {d.key for d in deliveries if d.key is not None}
        watched = {d for d in deliveries if d in self._held}
        self._revoked |= keys
        try:
            naks, releases = self._take_idle(keys)
            if naks or releases:
                await self._give_back(naks, releases)
            while any(d in watched or d.key in keys for d in self._held):
                self._settled.clear()
                await self._settled.wait()
        finally:
            self._revoked -= keys

    # -- settling ----------------------------------------------------------------------
    async def _settle(self, handle: MemberHandle, d: Delivery, outcome: Outcome) -> None:
        settlement = outcome.settlement
        if settlement is Settlement.ACK:
            await handle.ack(d)
        elif settlement is Settlement.NAK:
            # KeyOrder.MEMBER, stopping or revoked: back at once, before the rest of its key
            delay = 0.0 if self._in_member and d.key is not None else outcome.delay
            await handle.nak(d, delay, count=outcome.count)
        else:
            await handle.dead_letter(d, outcome.error)
