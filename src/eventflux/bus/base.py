"""The message bus port.

:class:`MessageBus` does the shared work once, in its public methods: subject,
group and argument checks, encoding and dedup bookkeeping, and the whole
consumer runtime (:mod:`eventflux.bus._consumer`: concurrency, retries with
backoff, dead letters, ``Reject``, per-key serialisation of a member's work,
lease extension, the inbox, the circuit breaker, graceful close). A backend
subclasses it and fills in the private hooks below, which only move messages.

What a backend must guarantee (the contract suite checks it):

* ``_publish`` stores each envelope for every group whose pattern matches,
  atomically per call, skipping explicit ids seen within ``dedup_window``.
* ``_fetch`` leases up to ``max_messages`` messages of one group to one member
  for ``ack_wait`` seconds, counting a delivery each. A leased message is not
  handed to anyone else until it is settled or its lease expires. It must
  hand out only the *oldest unsettled message of each key* of the group (a
  keyed message waiting for redelivery blocks later messages of its key only).
* settle hooks: ``_ack`` removes it; ``_nak`` makes it available again after
  ``delay`` (``count=False`` un-counts the delivery: a release); ``_dead_letter``
  moves it to the dead-letter queue; ``_extend`` renews leases.

Example::

    async with await open_bus("sqlite:///bus.db") as bus:
        @bus.subscribe("orders.created", group="payments")
        async def charge(msg: Message) -> None: ...

        await bus.publish("orders.created", {"id": 1}, msg_id="order-1", key="customer-7")
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, TypeVar, overload

from ..codec import Codec, default_codec, loads
from ..context import stamp_headers
from ..exceptions import BusClosedError, SerializationError
from ..resilience.inbox import Inbox, MemoryInbox
from .message import (
    NO_HEADERS,
    DeadLetter,
    Delivery,
    Envelope,
    Message,
    OutgoingMessage,
    new_msg_id,
)
from .subjects import validate_subject
from .subscription import Handler, Subscription, check_seconds, check_text, subscription_factory

if TYPE_CHECKING:
    from ..resilience.breaker import CircuitBreaker
    from ._consumer import Member
    from .dlq import DeadLetterQueue

__all__ = ["DEFAULT_DEDUP_WINDOW", "Handler", "MessageBus", "Subscription"]

#: Publish dedup window in seconds (URL option ``dedup_window``).
DEFAULT_DEDUP_WINDOW: Final = 120.0

H = TypeVar("H", bound=Callable[..., Any])


class MessageBus(abc.ABC):
    """A message bus with consumer groups, retries, dead letters and dedup.

    Open one with :func:`eventflux.open_bus`; leave ``async with`` (or
    ``await close()``) to stop consuming, let running handlers finish and
    release the storage.
    """

    #: True if several bus handles (processes) can share one storage.
    durable: ClassVar[bool] = False

    def __init__(
        self, *, dedup_window: float = DEFAULT_DEDUP_WINDOW, codec: Codec | None = None
    ) -> None:
        self.dedup_window = check_seconds("dedup_window", dedup_window)
        self.codec = codec if codec is not None else default_codec
        self._closing = False
        self._closed = False
        self._closed_event = asyncio.Event()
        self._members: list[Member] = []
        self._inbox: Inbox | None = None
        self._dlq: DeadLetterQueue | None = None

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

    async def close(self) -> None:
        """Stop fetching, let running handlers finish and settle (none is
        cancelled), release fetched-but-unstarted messages, then close the
        storage. Publishing still works while handlers drain."""
        if self._closing:
            await self._closed_event.wait()
            return
        self._closing = True
        try:
            members = list(self._members)
            for m in members:
                m.stop()
            if members:
                await asyncio.gather(*(m.wait_stopped() for m in members))
        finally:
            self._closed = True
            try:
                await self._close()
            finally:
                self._closed_event.set()

    # -- publishing -----------------------------------------------------------------
    def _envelope(
        self,
        subject: object,
        data: object,
        msg_id: object,
        key: object,
        headers: object,
        now: float,
    ) -> Envelope:
        subject = validate_subject(subject)
        if type(data) is dict or isinstance(data, Mapping):
            raw, _ = self.codec.encode_data("", data)
        else:
            type_name = self.codec.type_name_of(data)
            if type_name is None:
                raise SerializationError(
                    "message data must be a JSON-compatible mapping with str keys or an "
                    f"instance of a registered event class, not {type(data).__name__}"
                )
            raw, _ = self.codec.encode_data(type_name, data)
        if msg_id is None and key is None and headers is None:  # the common, fast case
            return Envelope(subject, raw, new_msg_id(), None, NO_HEADERS, now, False)
        given = check_text("msg_id", msg_id)
        hdrs: Mapping[str, str] = NO_HEADERS
        if headers is not None:
            if not isinstance(headers, Mapping):
                raise TypeError(f"headers must be a mapping of str to str, not {headers!r}")
            checked: dict[str, str] = {}
            for k, v in headers.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"headers must map str to str, got {k!r}: {v!r}")
                checked[k] = v
            hdrs = checked
        return Envelope(
            subject,
            raw,
            given if given is not None else new_msg_id(),
            check_text("key", key),
            hdrs,
            now,
            given is not None,
        )

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
        :class:`SerializationError` (a ``TypeError``) and publish nothing.

        Example::

            await bus.publish("orders.created", {"id": 1}, msg_id="order-1", key="customer-7")
        """
        self._check_open()
        env = self._envelope(subject, data, msg_id, key, stamp_headers(headers), time.time())
        await self._await_joins()
        await self._publish([env])
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
        envs: list[Envelope] = []
        for item in messages:
            if isinstance(item, OutgoingMessage):
                envs.append(
                    self._envelope(
                        item.subject,
                        item.data,
                        item.msg_id,
                        item.key,
                        stamp_headers(item.headers),
                        now,
                    )
                )
            elif isinstance(item, tuple) and len(item) == 2:
                envs.append(self._envelope(item[0], item[1], None, None, stamp_headers(None), now))
            else:
                raise TypeError(
                    f"publish_many takes OutgoingMessage or (subject, data) items, not {item!r}"
                )
        if not envs:
            return []
        await self._await_joins()
        await self._publish(envs)
        return [e.msg_id for e in envs]

    async def _await_joins(self) -> None:
        # A group receives every message published after its first subscribe:
        # a publish waits until this bus's pending group registrations are done.
        pending = [m.joined for m in self._members if not m.joined.done()]
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
    ) -> H | Callable[[H], H]:
        """Add a member to the consumer group ``group`` on ``subject`` and start
        consuming at once. Works as a decorator and as a call; returns the handler.

        The handler (``async def handler(msg: Message)``; plain functions work
        too) acks by returning, asks for a redelivery with backoff by raising,
        and dead-letters at once with ``raise Reject(reason)``. Without
        ``group`` the group is named after the handler's module and name.

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
        )
        asyncio.get_running_loop()  # a clear RuntimeError outside of async code

        def register(fn: H) -> H:
            from ._consumer import Member

            self._members.append(Member(self, make(fn)))
            return fn

        if handler is None:
            return register
        return register(handler)

    async def unsubscribe(self, handler: Callable[..., Any]) -> int:
        """Stop the members running ``handler``, draining their work like
        :meth:`close`. Returns how many members stopped."""
        mine = [m for m in self._members if m.sub.handler == handler]
        for m in mine:
            m.stop()
        await asyncio.gather(*(m.wait_stopped() for m in mine))
        for m in mine:
            self._members.remove(m)
        return len(mine)

    @property
    def subscriptions(self) -> list[Subscription]:
        """The settings of this bus's members, in subscribe order."""
        return [m.sub for m in self._members]

    async def ready(self) -> None:
        """Wait until every member so far has joined its group (so messages
        published from *another* bus handle now reach it)."""
        await self._await_joins()
        for m in self._members:
            if m.joined.done() and m.joined.exception() is not None:
                raise m.joined.exception()  # type: ignore[misc]

    # -- the inbox and the dead-letter queue ------------------------------------------
    @property
    def inbox(self) -> Inbox:
        """The bus's own inbox, used by ``subscribe(..., idempotent=True)``."""
        if self._inbox is None:
            self._inbox = self._make_inbox()
        return self._inbox

    @property
    def dlq(self) -> DeadLetterQueue:
        """The dead-letter queue: ``await bus.dlq.list()``, ``retry(id)``, ``purge()``."""
        if self._dlq is None:
            from .dlq import DeadLetterQueue

            self._dlq = DeadLetterQueue(self)
        return self._dlq

    # -- decoding (shared by every backend) ------------------------------------------
    def _decode(self, d: Delivery, group: str) -> Message:
        """Build the handler's Message; raises DeserializationError on bad bytes."""
        raw = d.headers
        if isinstance(raw, bytes | bytearray | memoryview):
            headers = loads(bytes(raw)) if raw else {}
            if not isinstance(headers, dict):
                raise ValueError("message headers are not a JSON object")
        else:
            headers = dict(raw)  # each delivery gets its own copy
        return Message(
            d.subject,
            loads(d.data),
            d.msg_id,
            d.key,
            headers,
            d.attempt,
            datetime.fromtimestamp(d.published_at, UTC),
            group,
        )

    @staticmethod
    def _letter_data(raw: bytes) -> Any:
        """A dead letter's payload: decoded, or the raw bytes when it cannot be."""
        try:
            return loads(raw)
        except Exception:
            return bytes(raw)

    # -- backend hooks ----------------------------------------------------------------
    @abc.abstractmethod
    async def _publish(self, envelopes: list[Envelope]) -> list[bool]:
        """Store the batch atomically for every group whose pattern matches each
        subject; return, per envelope, False when it was a duplicate (an
        ``explicit_id`` stored within ``self.dedup_window`` seconds, earlier
        envelopes of the same batch included) and True otherwise."""

    @abc.abstractmethod
    async def _join(self, group: str, pattern: str) -> Any:
        """Make sure the group ``(group, pattern)`` exists (on durable backends it
        keeps receiving messages while no member runs) and return a handle for
        one new member, passed back to ``_fetch``, ``_wake`` and ``_leave``."""

    async def _leave(self, handle: Any) -> None:  # noqa: B027 - optional hook
        """The member is gone (its messages were settled or released)."""

    @abc.abstractmethod
    async def _fetch(
        self, handle: Any, max_messages: int, ack_wait: float, max_wait: float
    ) -> list[Delivery]:
        """Lease up to ``max_messages`` (>= 1) available messages of the member's
        group for ``ack_wait`` seconds, counting one delivery each, oldest first
        and at most the oldest unsettled message of each key. When none is
        available, wait up to ``max_wait`` seconds (less if a delayed message
        falls due) and return ``[]``; return early when ``_wake(handle)`` is called."""

    @abc.abstractmethod
    def _wake(self, handle: Any) -> None:
        """Make a pending ``_fetch(handle, ...)`` return soon (the member stops)."""

    @abc.abstractmethod
    async def _ack(self, delivery: Delivery) -> None:
        """The message was handled: remove it from the group; if it came from a
        retried dead letter, delete that letter. Let the next message of its key go."""

    @abc.abstractmethod
    async def _nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        """Make the message available again after ``delay`` seconds, keeping it
        the head of its key. ``count=False`` un-counts this delivery (a release:
        closing, a breaker refusal). Ignore it if the lease was lost."""

    @abc.abstractmethod
    async def _extend(self, deliveries: list[Delivery], ack_wait: float) -> None:
        """Renew the leases: each is valid ``ack_wait`` seconds from now."""

    @abc.abstractmethod
    async def _dead_letter(self, delivery: Delivery, group: str, error: str) -> None:
        """Move the message to the dead-letter queue with ``error`` and its
        delivery count, atomically with removing it from the group (a retried
        letter is updated in place, keeping its id). Let its key's next go."""

    @abc.abstractmethod
    async def _dlq_list(
        self, group: str | None, subject: str | None, limit: int | None
    ) -> list[DeadLetter]:
        """Dead letters, oldest first, of ``group`` and whose subject matches the
        pattern ``subject`` (None = all). Use ``_letter_data`` for ``data``."""

    @abc.abstractmethod
    async def _dlq_retry(self, letter_id: str) -> bool:
        """Put the letter's message back in its own group only, with a fresh
        delivery budget; the letter stays listed until that message is handled.
        False if no letter has this id (retrying one already in flight is a no-op)."""

    @abc.abstractmethod
    async def _dlq_purge(self, group: str | None) -> int:
        """Delete the dead letters (of one group); return how many."""

    def _make_inbox(self) -> Inbox:
        """The inbox behind ``idempotent=True`` (default: in memory)."""
        return MemoryInbox()

    async def _load_checkpoint(self, name: str) -> int | None:
        """A named checkpoint kept with the bus (used by the outbox relay)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no checkpoints")

    async def _save_checkpoint(self, name: str, value: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} keeps no checkpoints")

    @abc.abstractmethod
    async def _close(self) -> None:
        """Release the storage (every member has stopped)."""
