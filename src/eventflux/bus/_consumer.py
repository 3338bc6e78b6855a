"""The consumer runtime shared by every backend: one :class:`Member` per
``subscribe`` call.

A member loops: while it holds fewer than ``concurrency`` messages it asks
the backend for more (``_fetch``), starts a handler task per message, and
settles each by the outcome: ack on return, a counted ``_nak`` with backoff on
an exception (dead letter once ``max_deliver`` deliveries failed), a dead
letter at once on ``Reject`` or undecodable bytes, and an uncounted ``_nak``
when a circuit breaker refused the call. A second message of a key that is
already running here waits locally and is released if the first one must
be retried. A background task renews the leases of everything it holds.
Stopping lets running handlers finish (none is cancelled) and releases the
messages that had not started.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import BusClosedError, CircuitOpenError
from ..signals import AlreadyHandled, Reject
from .message import Delivery

if TYPE_CHECKING:
    from .base import MessageBus, Subscription

__all__ = ["Member"]

log = logging.getLogger("eventflux.bus")

#: Longest single wait inside ``_fetch``; members are woken earlier by events.
FETCH_TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class _Outcome:
    kind: str  # "ack" | "nak" | "dead"
    delay: float = 0.0
    count: bool = True
    error: str = ""


_ACK: Final = _Outcome("ack")


def describe(error: BaseException) -> str:
    """``"ExcType: message"`` of an exception, as dead letters record it."""
    return f"{type(error).__name__}: {error}"


class Member:
    """One member of a consumer group, running in the bus's event loop."""

    def __init__(self, bus: MessageBus, sub: Subscription) -> None:
        self.bus = bus
        self.sub = sub
        loop = asyncio.get_running_loop()
        self.joined: asyncio.Future[None] = loop.create_future()
        self._handle: Any = None
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._held: set[Delivery] = set()
        self._running: set[asyncio.Task[None]] = set()
        self._chains: dict[str, deque[Delivery]] = {}
        self._task = loop.create_task(self._run(), name=f"eventflux-bus-member-{sub.group}")

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        """Stop fetching; unstarted messages are released at once."""
        if self._stopping:
            return
        self._stopping = True
        self._wakeup.set()
        if self._handle is not None:
            self.bus._wake(self._handle)
        waiting = [d for chain in self._chains.values() for d in chain]
        for chain in self._chains.values():
            chain.clear()
        if waiting:
            self._spawn(self._release(waiting))

    async def wait_stopped(self) -> None:
        await asyncio.shield(self._task)

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def held(self) -> int:
        """Messages fetched and not yet settled (at most ``concurrency``)."""
        return len(self._held)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self) -> None:
        bus, sub = self.bus, self.sub
        try:
            self._handle = await bus._join(sub.group, sub.subject)
        except Exception as e:
            log.error("group %r cannot join %r: %s", sub.group, sub.subject, describe(e))
            self.joined.set_exception(e)
            self.joined.exception()  # retrieved: bus.ready() reports it
            return
        self.joined.set_result(None)
        if self._stopping:
            bus._wake(self._handle)
        extender = asyncio.get_running_loop().create_task(self._extend_loop())
        try:
            await self._fetch_loop()
        finally:
            while self._running:
                await asyncio.wait(set(self._running))
            extender.cancel()
            with suppress(asyncio.CancelledError):
                await extender
            try:
                await bus._leave(self._handle)
            except Exception as e:
                log.warning("group %r: leaving failed: %s", sub.group, describe(e))

    async def _pause(self, seconds: float | None) -> None:
        self._wakeup.clear()
        if seconds is None:
            await self._wakeup.wait()
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)

    async def _fetch_loop(self) -> None:
        bus, sub = self.bus, self.sub
        while not self._stopping:
            breaker = sub.breaker
            if breaker is not None:
                wait = breaker.retry_after
                if wait > 0:
                    await self._pause(wait)
                    continue
            free = sub.concurrency - len(self._held)
            if free <= 0:
                await self._pause(None)
                continue
            try:
                batch = await bus._fetch(self._handle, free, sub.ack_wait, FETCH_TIMEOUT)
            except BusClosedError:
                return
            except Exception as e:
                log.warning("group %r: fetching failed, retrying: %s", sub.group, describe(e))
                await self._pause(0.5)
                continue
            if self.stopping:
                if batch:
                    self._held.update(batch)
                    await self._release(batch)
                return
            for d in batch:
                self._accept(d)

    async def _extend_loop(self) -> None:
        period = max(self.sub.ack_wait / 3, 0.005)
        while True:
            await asyncio.sleep(period)
            if self._held:
                try:
                    await self.bus._extend(list(self._held), self.sub.ack_wait)
                except Exception as e:
                    log.warning("group %r: extending leases failed: %s", self.sub.group, e)

    # -- dispatch ----------------------------------------------------------------------
    def _accept(self, d: Delivery) -> None:
        self._held.add(d)
        if d.key is not None:
            chain = self._chains.get(d.key)
            if chain is not None:
                chain.append(d)
                return
            self._chains[d.key] = deque()
        self._spawn(self._handle_one(d))

    async def _release(self, batch: list[Delivery]) -> None:
        async def one(d: Delivery) -> None:
            try:
                await self.bus._nak(d, 0.0, count=False)
            except Exception as e:
                log.warning("group %r: releasing a message failed: %s", self.sub.group, e)
            finally:
                self._held.discard(d)

        await asyncio.gather(*(one(d) for d in batch))
        self._wakeup.set()

    async def _handle_one(self, d: Delivery) -> None:
        retry = True
        try:
            outcome = await self._process(d)
            retry = outcome.kind == "nak"
            await self._settle(d, outcome)
        except Exception as e:
            log.error("group %r: settling %r failed: %s", self.sub.group, d.msg_id, describe(e))
        finally:
            self._held.discard(d)
            self._next_of_key(d, retry)
            self._wakeup.set()

    def _next_of_key(self, d: Delivery, retry: bool) -> None:
        if d.key is None:
            return
        chain = self._chains.get(d.key)
        if chain is None:
            return
        if retry or self._stopping or not chain:
            del self._chains[d.key]
            if chain:
                self._spawn(self._release(list(chain)))
            return
        self._spawn(self._handle_one(chain.popleft()))

    async def _settle(self, d: Delivery, outcome: _Outcome) -> None:
        bus = self.bus
        if outcome.kind == "ack":
            await bus._ack(d)
        elif outcome.kind == "nak":
            await bus._nak(d, outcome.delay, count=outcome.count)
        else:
            await bus._dead_letter(d, self.sub.group, outcome.error)

    def _exhausted(self, d: Delivery, error: str) -> _Outcome:
        sub = self.sub
        if sub.dead_letter:
            log.error(
                "group %r: message %r dead-lettered after %d deliveries: %s",
                sub.group,
                d.msg_id,
                d.attempt,
                error,
            )
            return _Outcome("dead", error=error)
        log.error(
            "group %r: message %r dropped (dead_letter=False) after %d deliveries: %s",
            sub.group,
            d.msg_id,
            d.attempt,
            error,
        )
        return _ACK

    async def _process(self, d: Delivery) -> _Outcome:
        sub = self.sub
        try:
            msg = self.bus._decode(d, sub.group)
        except Exception as e:
            return self._exhausted(d, describe(e))
        if d.attempt > sub.policy.max_deliver:
            return self._exhausted(
                d,
                f"LeaseExpired: delivery {d.attempt - 1} was neither acked nor extended "
                f"within ack_wait={sub.ack_wait:g}s",
            )
        inbox = sub.idempotent
        try:
            if inbox is not None and await inbox.seen(sub.group, msg.msg_id):
                return _ACK
            breaker = sub.breaker
            if breaker is None:
                result = sub.handler(msg)
                if result is not None:
                    await result
            else:
                async with breaker:
                    result = sub.handler(msg)
                    if result is not None:
                        await result
            if inbox is not None:
                await inbox.record(sub.group, msg.msg_id)
        except AlreadyHandled:
            return _ACK
        except Reject as e:
            return self._exhausted(d, e.reason)
        except CircuitOpenError as e:
            log.info("group %r: circuit open, %r deferred", sub.group, d.msg_id)
            return _Outcome("nak", delay=max(e.retry_after, 0.01), count=False)
        except Exception as e:
            error = describe(e)
            if not sub.policy.should_retry(d.attempt):
                return self._exhausted(d, error)
            delay = sub.policy.delay(d.attempt)
            log.warning(
                "group %r: handler failed on delivery %d of %r, retry in %.3gs: %s",
                sub.group,
                d.attempt,
                d.msg_id,
                delay,
                error,
            )
            return _Outcome("nak", delay=delay)
        return _ACK
