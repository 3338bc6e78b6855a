"""The bus backend interface: what a message bus backend implements, and nothing else.

Users call :class:`~eventflux.bus.MessageBus` (the facade), which holds one
:class:`BusBackend`. The facade does the shared work once: it checks subjects,
groups and arguments, encodes payloads, drops repeated ids inside one batch,
and runs the consumer runtime (:mod:`eventflux.bus.consumer`: concurrency,
retries with backoff, dead-letter decisions, ``Reject``, per-key order within
a member, lease extension, the inbox, the circuit breaker, graceful close).
A backend only stores and moves messages:

* :meth:`BusBackend.publish` stores encoded :class:`Envelope` s for every
  group whose pattern matches;
* :meth:`BusBackend.join` adds a member to a group and returns its
  :class:`MemberHandle`, through which the runtime fetches (leases)
  :class:`Delivery` s and settles them (ack, nak, release, dead-letter) and
  extends their leases;
* dead letters, checkpoints, the inbox and the read-only figures of each
  group (:class:`GroupStats`) live with the backend's storage.

Per-key order is shared work too, in one of two shapes a backend declares in
:attr:`BusBackend.key_order` (:class:`KeyOrder`): a backend with row leases
hands out only the oldest unsettled message of each key; a backend with key
partitions sends every message of a key to the member that owns its
partition, and the runtime runs them one at a time.

A backend is checked by the contract suite :mod:`eventflux.testing.bus_contract`;
docs/backends-bus.md walks through writing one. Example::

    backend = await MemoryBusBackend.open(urlsplit("memory://"), {})
    async with MessageBus(backend) as bus:
        await bus.publish("orders.created", {"id": 1})
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Self
from urllib.parse import SplitResult

from ..exceptions import ConfigurationError
from ..resilience.inbox import Inbox

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "BusBackend",
    "Delivery",
    "Envelope",
    "GroupStats",
    "KeyOrder",
    "MemberHandle",
    "Revoke",
    "StoredLetter",
]

#: Publish dedup window in seconds (URL option ``dedup_window``).
DEFAULT_DEDUP_WINDOW: Final = 120.0


class KeyOrder(StrEnum):
    """How a backend keeps the messages of one key in publish order within a group."""

    BACKEND = "backend"
    """The backend hands out at most the oldest unsettled message of each key of a
    group, across all members and processes; a message waiting for its
    redelivery (after :meth:`MemberHandle.nak`) keeps holding its key. Fits row
    leases (memory, SQLite)."""

    MEMBER = "member"
    """The backend sends every message of a key to one member at a time (the
    owner of the key's partition), in publish order, and may hand out several
    of them at once. The runtime runs them one at a time, retries a failed one
    in the member (holding its key; :meth:`MemberHandle.starting` records the
    attempt) and gives them back in order when the backend revokes them (see
    :data:`Revoke`). Fits key partitions (NATS JetStream)."""


@dataclass(slots=True)
class Envelope:
    """A validated, encoded message on its way to :meth:`BusBackend.publish`.

    ``explicit_id`` is True when the caller gave ``msg_id`` (only those take
    part in dedup; generated ids are unique anyway). ``published_at`` is Unix
    time in seconds.
    """

    subject: str
    data: bytes
    msg_id: str
    key: str | None
    headers: Mapping[str, str]
    published_at: float
    explicit_id: bool


@dataclass(slots=True, eq=False)
class Delivery:
    """One fetched (leased) message, as :meth:`MemberHandle.fetch` returns it.

    ``attempt`` counts this delivery (1 = first). ``headers`` is a mapping or
    its JSON encoding. A backend subclasses it to keep what it needs to settle
    the message (a row id, a lease token, the native message); its settle
    methods receive back the deliveries it handed out, and only those.
    Deliveries compare by identity.
    """

    subject: str
    data: bytes
    msg_id: str
    key: str | None
    headers: Mapping[str, str] | bytes
    attempt: int
    published_at: float


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """A dead letter as a backend keeps it (the dead-letter queue decodes ``data``).

    ``dead_at`` is Unix time in seconds.
    """

    id: str
    group: str
    subject: str
    data: bytes
    msg_id: str
    key: str | None
    error: str
    deliveries: int
    dead_at: float


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Read-only figures of one consumer group ``(group, pattern)`` now.

    ``members`` counts the live members the backend can see, in every process
    that shares the storage (``None`` when it cannot tell). ``pending``
    counts the messages not yet handled and not leased: ready, waiting for a
    redelivery, or behind an older message of their key. ``in_flight``
    counts those leased to a member now. ``dead_letters`` counts the group's
    letters. ``oldest_pending_at`` is the publish time (Unix seconds) of the
    oldest message the group has not settled, pending or in flight (``None``
    when there is none).
    """

    group: str
    pattern: str
    members: int | None
    pending: int
    in_flight: int
    dead_letters: int
    oldest_pending_at: float | None


#: How a backend with :attr:`KeyOrder.MEMBER` takes deliveries back from the
#: runtime of a member (a key partition moves to another member): the runtime
#: starts none of them any more, lets those already running settle, gives the
#: others back with :meth:`MemberHandle.nak` / :meth:`MemberHandle.release`
#: (each key's in publish order) and returns once none of them is held. A
#: revocation covers whole keys: every delivery the member holds of a key
#: named in it is taken back.
Revoke = Callable[[Collection[Delivery]], Awaitable[None]]


class MemberHandle(abc.ABC):
    """One member's link to its consumer group, made by :meth:`BusBackend.join`.

    The consumer runtime calls :meth:`fetch` in a loop and settles every
    delivery it got exactly once, by :meth:`ack`, :meth:`nak`, :meth:`release`
    or :meth:`dead_letter`; it calls :meth:`starting` before a handler runs,
    :meth:`extend` every third of :attr:`ack_wait`, :meth:`wake` when the
    member stops, and :meth:`leave` last. Settling a delivery whose lease was
    lost (it expired and went to another member) must do nothing and raise
    nothing.

    Example::

        handle = await backend.join("payments", "orders.*", ack_wait=30.0,
                                    concurrency=16, revoke=runtime.revoke)
        for delivery in await handle.fetch(16, 2.0):
            await handle.ack(delivery)
        await handle.leave()
    """

    @property
    @abc.abstractmethod
    def ack_wait(self) -> float:
        """Seconds a fetched message stays leased without an ack or an extension.

        At most the ``ack_wait`` the member asked for in :meth:`BusBackend.join`;
        it may shrink while the member runs (NATS: a consumer setting the
        members of a group share). The runtime extends every third of it.
        """

    @abc.abstractmethod
    async def fetch(self, max_messages: int, max_wait: float) -> list[Delivery]:
        """Lease up to ``max_messages`` (>= 1) messages of the member's group for
        :attr:`ack_wait` seconds, counting one delivery each, oldest first.

        A leased message goes to no other member until it is settled or its
        lease expires; then it comes back with its delivery counted (how a
        crashed member's work returns). Keys follow :attr:`BusBackend.key_order`.
        When nothing is available, wait up to ``max_wait`` seconds (less if a
        delayed message falls due) and return ``[]``; return early once
        :meth:`wake` was called.
        """

    @abc.abstractmethod
    def wake(self) -> None:
        """The member stops: make a pending :meth:`fetch` return soon, and every
        later one return ``[]`` at once."""

    @abc.abstractmethod
    async def ack(self, delivery: Delivery) -> None:
        """The message was handled: remove it from the group. If it came from a
        retried dead letter, delete that letter. Let the next message of its key go."""

    @abc.abstractmethod
    async def nak(self, delivery: Delivery, delay: float, *, count: bool) -> None:
        """Make the message available again after ``delay`` seconds (0: at once).

        With :attr:`KeyOrder.BACKEND` it keeps holding its key meanwhile.
        ``count=True``: this run counts, its next delivery carries
        ``attempt + 1`` (record it even if :meth:`starting` skipped the write).
        ``count=False`` un-counts this delivery: its next delivery carries the
        same attempt number (a circuit breaker refused it; it was never run).
        """

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give back messages fetched but not handled (the member stops, or a
        revocation), in this order, each with its delivery un-counted, to be
        delivered again at once.

        The default naks them one by one; a backend may do it in one round trip.
        """
        for delivery in deliveries:
            await self.nak(delivery, 0.0, count=False)

    @abc.abstractmethod
    async def extend(self, deliveries: Sequence[Delivery]) -> None:
        """Renew the leases of these deliveries (every one the member holds): each
        stays leased :attr:`ack_wait` seconds from now. A backend that buffers
        messages it has not handed out yet renews those too."""

    @abc.abstractmethod
    async def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Move the message to the dead-letter queue with ``error`` and its
        delivery count (``delivery.attempt``), atomically with removing it from
        the group. A retried letter that dies again is updated in place and
        keeps its id. Let the next message of its key go."""

    @abc.abstractmethod
    async def starting(self, delivery: Delivery) -> None:
        """The runtime is about to run the handler of ``delivery`` as run number
        ``delivery.attempt``; return once that is recorded.

        A delivery's attempt counts the handler runs that started, not the
        times the message was handed out: a delivery lost before its handler
        started (a failover, a member that died while fetching) does not use
        up ``max_deliver``, and one whose handler started counts even if its
        member died meanwhile (so a message that kills its worker every time
        still reaches the dead-letter queue). Record the run so that the
        message's next delivery, to any member, carries ``attempt + 1``.

        The happy path must stay cheap: a backend may skip the write on the
        message's first hand-out when ``attempt`` is 1 (only a crash in that
        very run then goes uncounted). With :attr:`KeyOrder.MEMBER` the
        runtime also calls it before each in-member retry, with the retry's
        attempt.
        """

    @abc.abstractmethod
    async def leave(self) -> None:
        """The member is gone: every delivery was settled or released. Free what
        the member holds in the backend (its partitions, its registration)."""


class BusBackend(abc.ABC):
    """Where a :class:`~eventflux.bus.MessageBus` keeps and moves its messages.

    Input is already checked: subjects and patterns are valid, group names
    match ``[A-Za-z0-9_-]+``, payloads are encoded, and one
    :meth:`publish` call holds each explicit id at most once. Methods may be
    called by many tasks at once. Errors are :class:`~eventflux.EventfluxError`;
    translate driver errors at this boundary (``raise BusUnavailableError(...)
    from e``). :mod:`eventflux.testing.bus_contract` checks the rules.

    Example::

        class MyBusBackend(BusBackend):
            durable = True
            key_order = KeyOrder.BACKEND

            async def publish(self, envelopes): ...
            def declare(self, group, pattern): ...
            async def join(self, group, pattern, *, ack_wait, concurrency, revoke): ...
            ...

        bus = MessageBus(MyBusBackend())
    """

    #: True when several handles (processes) can share the storage: a group then
    #: keeps its messages while none of its members runs.
    durable: bool = False

    #: How the backend keeps each key's order (see :class:`KeyOrder`).
    key_order: KeyOrder = KeyOrder.BACKEND

    #: Seconds an explicit message id stays known to dedup (URL option ``dedup_window``).
    dedup_window: float = DEFAULT_DEDUP_WINDOW

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str]) -> Self:
        """Build the backend for ``url`` (used by :func:`~eventflux.bus.open_bus`).

        ``options`` holds the URL's query options: pop yours and refuse the
        others with :class:`~eventflux.ConfigurationError`. A backend that is
        not opened by URL keeps this default, which refuses.
        """
        raise ConfigurationError(f"{cls.__name__} cannot be opened from a URL")

    @abc.abstractmethod
    async def publish(self, envelopes: Sequence[Envelope]) -> list[bool]:
        """Store the batch atomically (all or none) for every group whose pattern
        matches each subject, in order.

        Return, per envelope, False when it was a duplicate (an ``explicit_id``
        stored within :attr:`dedup_window` seconds, across all subjects) and
        True otherwise. A publish that raised stores nothing and uses up no id.
        """

    @abc.abstractmethod
    def declare(self, group: str, pattern: str) -> None:
        """Make sure the group ``(group, pattern)`` exists in the storage before
        returning: from then on, every message published to a matching subject,
        from any handle or process, reaches the group.

        ``subscribe`` calls it synchronously, so that the group's start point is
        fixed by the subscribe call itself (no ``ready()`` needed). Return at
        once when the group is known to exist; creating one may block briefly
        (a durable backend writes it to its storage). Raise a
        :class:`~eventflux.BusError` when the storage cannot be reached.
        """

    @abc.abstractmethod
    async def join(
        self, group: str, pattern: str, *, ack_wait: float, concurrency: int, revoke: Revoke
    ) -> MemberHandle:
        """Make sure the group ``(group, pattern)`` exists and add one member to it.

        From the first join on, the group receives every message published to
        a matching subject (on durable backends, also while no member runs).
        ``ack_wait`` is the lease time the member asks for, ``concurrency`` the
        number of handlers it runs at most (a backend may size its buffers by
        it). ``revoke`` is how a :attr:`KeyOrder.MEMBER` backend takes
        deliveries back from this member; others never call it.
        """

    @abc.abstractmethod
    async def list_letters(self, group: str | None) -> list[StoredLetter]:
        """The dead letters (of one group, by name), oldest ``dead_at`` first."""

    @abc.abstractmethod
    async def retry_letter(self, letter_id: str) -> bool:
        """Put the letter's message back in its own group only (same subject,
        id, key, headers), with a fresh delivery budget; the letter stays listed
        until that message is handled. Return False if no letter has this id;
        retrying a letter already in flight does nothing and returns True."""

    @abc.abstractmethod
    async def purge_letters(self, group: str | None) -> int:
        """Delete the dead letters (of one group); return how many."""

    @abc.abstractmethod
    def inbox(self) -> Inbox:
        """The inbox behind ``subscribe(..., idempotent=True)``: handled ids kept
        with the backend's storage, shared by every handle on it. Called once."""

    @abc.abstractmethod
    async def load_checkpoint(self, name: str) -> int | None:
        """A named position kept with the bus (the outbox relay's), or None."""

    @abc.abstractmethod
    async def save_checkpoint(self, name: str, value: int) -> None:
        """Keep ``value`` as the checkpoint ``name`` (replacing the previous one)."""

    @abc.abstractmethod
    async def group_stats(self) -> list[GroupStats]:
        """Figures of every consumer group the storage knows, members or not
        (read-only; a snapshot, not a transaction across groups)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the storage. Every member has left; called once."""
