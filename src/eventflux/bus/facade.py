"""The message bus users call: :class:`MessageBus`, holding one backend.

The facade does the shared work once: subject, group and argument checks,
encoding and the in-batch part of dedup (:mod:`.envelopes`), the consumer
runtime (:mod:`.consumer`: one :class:`~eventflux.bus.consumer.Consumer` per
``subscribe`` call), the dead-letter queue (:mod:`.dlq`) and closing. The
backend (:class:`~eventflux.bus.backend.BusBackend`) stores and moves
messages.

Example::

    async with await open_bus("sqlite:///bus.db") as bus:
        @bus.subscribe("orders.created", group="payments")
        async def charge(msg: Message) -> None: ...

        await bus.publish("orders.created", {"id": 1}, msg_id="order-1", key="customer-7")
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self, TypeVar, overload

from ..codec import Codec, default_codec
from ..context import stamp_headers
from ..events import CORRELATION_ID
from ..exceptions import BusClosedError
from ..observability import tracing
from ..resilience.breaker import CircuitBreaker
from ..resilience.inbox import Inbox
from .backend import BusBackend, Envelope, GroupStats
from .consumer import Consumer
from .dlq import DeadLetterQueue
from .draining import drain
from .envelopes import first_of_each_id, make_envelope
from .message import GroupInfo, OutgoingMessage
from .observe import log_publish
from .subscription import DEFAULT_HANDLER_TIMEOUT, Subscription, subscription_factory

__all__ = ["MessageBus"]

H = TypeVar("H", bound=Callable[..., Any])


class MessageBus:
    """A message bus with consumer groups, retries, dead letters and dedup.

    Open one with :func:`eventflux.open_bus` (or wrap a backend:
    ``MessageBus(backend)``); leave ``async with`` (or ``await close()``) to
    stop consuming, let running handlers finish and release the storage.
    """

    def __init__(self, backend: BusBackend, *, codec: Codec | None = None) -> None:
        self._backend = backend
        self.codec = codec if codec is not None else default_codec
        self._closing = False
        self._closed = False
        self._closed_event = asyncio.Event()
        self._consumers: list[Consumer] = []
        self._inbox: Inbox | None = None
        self._dlq = DeadLetterQueue(backend, self._check_open)

    @property
    def backend(self) -> BusBackend:
        """The backend this bus runs on (see :mod:`eventflux.bus.backend`)."""
        return self._backend

    @property
    def durable(self) -> bool:
        """True if several bus handles (processes) can share the storage."""
        return self._backend.durable

    @property
    def dedup_window(self) -> float:
        """Seconds a published ``msg_id`` stays known to dedup."""
        return self._backend.dedup_window

    # -- lifecycle ------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("the message bus is closed")

    async def close(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (DESIGN 3.3)
        """Stop fetching and release fetched-but-unstarted messages at once, let
        running handlers finish and settle for up to ``timeout`` seconds, then
        cancel those still running and give their messages back unacked (at
        least once holds: nothing acknowledged is lost), then close the storage.
        Publishing still works while handlers drain.

        Example::

            await bus.close()   # or leave ``async with``
        """
        if self._closing:
            await self._closed_event.wait()
            return
        self._closing = True
        try:
            await drain(list(self._consumers), timeout)
        finally:
            self._closed = True
            try:
                await self._backend.close()
            finally:
                self._closed_event.set()

    # -- publishing -----------------------------------------------------------------
    async def publish(
        self,
        subject: str,
        data: Any,
        msg_id: str | None = None,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Publish one message to every group whose pattern matches ``subject``.

        ``msg_id`` makes the publish idempotent within the dedup window (a
        repeat returns normally and delivers nothing); ``key`` orders messages
        within each group. Returns the message id. Encoding problems raise
        :class:`~eventflux.SerializationError` (a ``TypeError``) and publish nothing.

        Example::

            await bus.publish("orders.created", {"id": 1}, msg_id="order-1", key="customer-7")
        """
        self._check_open()
        now = time.time()
        env = make_envelope(self.codec, subject, data, msg_id, key, stamp_headers(headers), now)
        started = time.perf_counter()
        if tracing.enabled():
            with tracing.publish_span(
                env.subject, env.msg_id, env.headers, env.headers.get(CORRELATION_ID)
            ) as traced:
                if traced is not None:
                    env.headers = traced
                fresh = await self._backend.publish([env])
        else:
            fresh = await self._backend.publish([env])
        log_publish((env,), fresh, time.perf_counter() - started)
        return env.msg_id

    async def publish_many(
        self, messages: Iterable[OutgoingMessage | tuple[str, Any]]
    ) -> list[str]:
        """Publish a batch atomically (all or none) in one round trip; returns
        the message ids. Items are :class:`OutgoingMessage` or ``(subject, data)``.

        Example::

            await bus.publish_many([("metrics.cpu", {"v": v}) for v in readings])
        """
        self._check_open()
        now = time.time()
        codec = self.codec
        envs: list[Envelope] = []
        for item in messages:
            if isinstance(item, OutgoingMessage):
                envs.append(
                    make_envelope(
                        codec,
                        item.subject,
                        item.data,
                        item.msg_id,
                        item.key,
                        stamp_headers(item.headers),
                        now,
                    )
                )
            elif isinstance(item, tuple) and len(item) == 2:
                envs.append(
                    make_envelope(codec, item[0], item[1], None, None, stamp_headers(None), now)
                )
            else:
                raise TypeError(
                    f"publish_many takes OutgoingMessage or (subject, data) items, not {item!r}"
                )
        if not envs:
            return []
        batch = first_of_each_id(envs)
        started = time.perf_counter()
        if tracing.enabled():
            subjects = {e.subject for e in batch}
            with tracing.batch_span(
                next(iter(subjects)) if len(subjects) == 1 else None, len(batch)
            ) as trace_headers:
                if trace_headers:
                    for e in batch:
                        e.headers = {**e.headers, **trace_headers}
                fresh = await self._backend.publish(batch)
        else:
            fresh = await self._backend.publish(batch)
        log_publish(batch, fresh, time.perf_counter() - started)
        return [e.msg_id for e in envs]

    async def _await_joins(self) -> None:
        pending = [c.joined for c in self._consumers if not c.joined.done()]
        if pending:
            await asyncio.wait(pending)

    # -- subscribing ----------------------------------------------------------------
    @overload
    def subscribe(
        self,
        subject: str,
        handler: None = None,
        *,
        group: str | None = None,
        max_deliver: int = 5,
        backoff: tuple[float, float] = (0.1, 30.0),
        dead_letter: bool = True,
        concurrency: int = 16,
        ack_wait: float = 30.0,
        idempotent: bool | Inbox = False,
        breaker: CircuitBreaker | None = None,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
    ) -> Callable[[H], H]: ...

    @overload
    def subscribe(
        self,
        subject: str,
        handler: H,
        *,
        group: str | None = None,
        max_deliver: int = 5,
        backoff: tuple[float, float] = (0.1, 30.0),
        dead_letter: bool = True,
        concurrency: int = 16,
        ack_wait: float = 30.0,
        idempotent: bool | Inbox = False,
        breaker: CircuitBreaker | None = None,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
    ) -> H: ...

    def subscribe(
        self,
        subject: str,
        handler: H | None = None,
        *,
        group: str | None = None,
        max_deliver: int = 5,
        backoff: tuple[float, float] = (0.1, 30.0),
        dead_letter: bool = True,
        concurrency: int = 16,
        ack_wait: float = 30.0,
        idempotent: bool | Inbox = False,
        breaker: CircuitBreaker | None = None,
        handler_timeout: float | None = DEFAULT_HANDLER_TIMEOUT,
    ) -> H | Callable[[H], H]:
        """Add a member to the consumer group ``group`` on ``subject`` and start
        consuming at once. Works as a decorator and as a call; returns the handler.

        The handler (``async def handler(msg: Message)``; plain functions work
        too) acks by returning, asks for a redelivery with backoff by raising,
        and dead-letters at once with ``raise Reject(reason)``. Without
        ``group`` the group is named after the handler's module and name.

        Once this returns, the group exists in the bus's storage: a message
        published from then on, from any handle or process, reaches it (the
        first subscribe of a new group on a durable backend writes it there,
        which may block for a moment). A handler running longer than
        ``handler_timeout`` seconds (``None``: no limit) is cancelled and the
        delivery counts as failed (``HandlerTimeoutError``).

        Example::

            @bus.subscribe("orders.created", group="payments", max_deliver=5,
                           backoff=(0.1, 30.0), concurrency=16)
            async def charge(msg: Message) -> None: ...

            bus.subscribe("orders.*", audit, group="audit", idempotent=True)
        """
        self._check_open()
        if self._closing:
            raise BusClosedError("the message bus is closing")
        make = subscription_factory(
            subject,
            group=group,
            max_deliver=max_deliver,
            backoff=backoff,
            dead_letter=dead_letter,
            concurrency=concurrency,
            ack_wait=ack_wait,
            idempotent=idempotent,
            breaker=breaker,
            bus_inbox=lambda: self.inbox,
            handler_timeout=handler_timeout,
        )
        asyncio.get_running_loop()  # a clear RuntimeError outside of async code

        def register(fn: H) -> H:
            sub = make(fn)
            self._backend.declare(sub.group, sub.subject)  # fixes the group's start point
            self._consumers.append(Consumer(self._backend, sub))
            return fn

        if handler is None:
            return register
        return register(handler)

    async def unsubscribe(
        self,
        handler: Callable[..., Any],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (like close)
    ) -> int:
        """Stop the members running ``handler``, draining their work like
        :meth:`close` (running handlers get up to ``timeout`` seconds). Returns
        how many members stopped.

        Example::

            await bus.unsubscribe(charge)
        """
        mine = [c for c in self._consumers if c.sub.handler == handler]
        await drain(mine, timeout)
        for c in mine:
            self._consumers.remove(c)
        return len(mine)

    @property
    def subscriptions(self) -> list[Subscription]:
        """The settings of this bus's members, in subscribe order."""
        return [c.sub for c in self._consumers]

    async def ready(self) -> None:
        """Wait until every member so far has joined its group (registered as a
        member; a failed join raises here). Not needed for delivery: a message
        published after ``subscribe`` returned reaches the group anyway.

        Example::

            bus.subscribe("orders.created", charge, group="payments")
            await bus.ready()
        """
        await self._await_joins()
        for c in self._consumers:
            if c.joined.done():
                error = c.joined.exception()
                if error is not None:
                    raise error

    # -- the inbox and the dead-letter queue ------------------------------------------
    @property
    def inbox(self) -> Inbox:
        """The bus's own inbox, used by ``subscribe(..., idempotent=True)``."""
        if self._inbox is None:
            self._inbox = self._backend.inbox()
        return self._inbox

    @property
    def dlq(self) -> DeadLetterQueue:
        """The dead-letter queue: ``await bus.dlq.list()``, ``retry(id)``, ``purge()``."""
        return self._dlq

    # -- introspection ----------------------------------------------------------------
    async def groups(self) -> list[GroupInfo]:
        """Every consumer group the bus's storage knows, by name, with its patterns,
        live members, pending and in-flight messages, dead letters and the age
        of its oldest unhandled message (read-only).

        Example::

            for g in await bus.groups():
                print(g.name, g.patterns, g.members, g.pending, g.oldest_pending_age)
        """
        self._check_open()
        by_name: dict[str, list[GroupStats]] = {}
        for stats in await self._backend.group_stats():
            by_name.setdefault(stats.group, []).append(stats)
        now = time.time()
        out: list[GroupInfo] = []
        for name in sorted(by_name):
            parts = by_name[name]
            counts = [p.members for p in parts]
            oldest = [p.oldest_pending_at for p in parts if p.oldest_pending_at is not None]
            out.append(
                GroupInfo(
                    name,
                    tuple(sorted(p.pattern for p in parts)),
                    None if None in counts else sum(c for c in counts if c is not None),
                    sum(p.pending for p in parts),
                    sum(p.in_flight for p in parts),
                    sum(p.dead_letters for p in parts),
                    max(0.0, now - min(oldest)) if oldest else None,
                )
            )
        return out
