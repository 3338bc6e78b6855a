"""The store backend interface: what a backend implements, and nothing else.

Users call :class:`~eventflux.store.EventStore` (the facade), which holds one
:class:`StoreBackend`. The facade does the shared work once: it checks every
argument, validates stream names and event types, encodes events (size limit
included), pages reads, runs live subscriptions and closes. A backend gets
validated, encoded input and stores and finds rows.

The values that cross the boundary are defined here (:class:`AppendBatch`,
:class:`LogPage`, :class:`StoredSnapshot`) or beside it
(:class:`~eventflux.codec.EncodedEvent`, :class:`~eventflux.store.StreamLimits`,
:class:`~eventflux.RecordedEvent`, :class:`~eventflux.AppendResult`), with the
helpers every backend uses: :func:`check_idempotent_retry`,
:func:`version_matches` and :func:`decode_event`.

A backend is checked by the contract suite :mod:`eventflux.testing.store_contract`;
docs/backends.md walks through writing one. Example::

    store = EventStore(MyBackend(), max_event_bytes=65536)
    async with store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})])
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Self
from urllib.parse import SplitResult
from uuid import UUID

from ..codec import Codec, EncodedEvent
from ..events import AppendResult, RecordedEvent
from ..exceptions import ConfigurationError, DuplicateEventError, StoreError
from .types import ANY, STREAM_EXISTS, ExpectedVersion, StreamLimits

__all__ = [
    "AppendBatch",
    "EncodedEvent",
    "LogPage",
    "StoreBackend",
    "StoredSnapshot",
    "check_idempotent_retry",
    "decode_event",
    "version_matches",
]


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """One stream's part of an append, validated and encoded.

    ``events`` holds at least one event; no event id appears twice in one
    append (across all its batches); ``expected_version`` is a non-negative
    int, ``ANY`` or ``STREAM_EXISTS``.
    """

    stream: str
    events: list[EncodedEvent]
    expected_version: ExpectedVersion


class LogPage(NamedTuple):
    """One page of the global log: the events, and the *mark*, the position up
    to which the page's scan is complete (the next page starts after it).

    When the page is full (as many events as asked for), the mark is the last
    event's position. Otherwise it is the highest position that is safe to
    skip to: no event at or below it can still become visible (a transaction
    that holds a lower position and has not committed yet would be skipped
    for ever). It is never below the ``after`` the page was asked for.
    """

    events: list[RecordedEvent]
    mark: int


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A snapshot as a backend keeps it (the facade decodes ``data``)."""

    version: int
    type: str
    data: bytes
    schema_version: int
    recorded_at: datetime


def version_matches(expected: ExpectedVersion, actual: int) -> bool:
    """Whether a stream at version ``actual`` passes the check ``expected``."""
    if expected is ANY:
        return True
    if expected is STREAM_EXISTS:
        return actual > 0
    return expected == actual


def check_idempotent_retry(
    batch: AppendBatch, stored: Mapping[UUID, tuple[str, int, int]]
) -> AppendResult | None:
    """Decide what an append whose event ids are (partly) stored means.

    ``stored`` maps each already-stored id of the batch to its (stream,
    version, position). Returns the original result for a retry of a stored
    batch (same ids, same stream, same order; its ``retried`` is True), None
    when no id is stored, and
    raises :class:`~eventflux.DuplicateEventError` otherwise. A retry returns
    its original result whatever its expected version says: check it after
    this function, and only when this function returns None.

    Example::

        retry = check_idempotent_retry(batch, {i: ids[i] for i in batch_ids if i in ids})
        if retry is None and not version_matches(batch.expected_version, version):
            raise ConcurrencyError(batch.stream, batch.expected_version, version)
    """
    if not stored:
        return None
    first = batch.events[0].id
    prev: tuple[str, int, int] | None = None
    for ev in batch.events:
        hit = stored.get(ev.id)
        if hit is None:
            culprit = next(e.id for e in batch.events if e.id in stored)
            raise DuplicateEventError(
                culprit, "is already stored, but the rest of this batch is not: not a retry"
            )
        if hit[0] != batch.stream:
            raise DuplicateEventError(ev.id, f"is already stored in stream {hit[0]!r}")
        if prev is not None and hit[1] != prev[1] + 1:
            raise DuplicateEventError(ev.id, "is already stored, but in another order")
        prev = hit
    assert prev is not None
    return AppendResult(stored[first][1], prev[1], prev[2], retried=True)


def decode_event(
    codec: Codec,
    id: UUID,
    stream: str,
    version: int,
    position: int,
    type_name: str,
    data: bytes,
    metadata: bytes | None,
    schema_version: int,
    recorded_at: datetime,
) -> RecordedEvent:
    """A stored event's :class:`~eventflux.RecordedEvent`, its data and metadata
    decoded (and upcast) by ``codec``.

    Example::

        events = [decode_event(codec, *row) for row in rows]
    """
    return RecordedEvent(
        id,
        stream,
        version,
        position,
        type_name,
        codec.decode_data(type_name, data, schema_version),
        codec.decode_metadata(metadata),
        recorded_at,
    )


class StoreBackend(abc.ABC):
    """Where an :class:`~eventflux.store.EventStore` keeps its events.

    Every method may be called by many tasks at once. Input is already
    checked: stream names and event types are valid, counts are ints in range,
    times are aware. The rules the methods follow are those of the event store
    (docs/store.md); :mod:`eventflux.testing.store_contract` checks them.
    Errors are :class:`~eventflux.EventfluxError`; translate driver errors at
    this boundary (``raise StoreUnavailableError(...) from e``).
    """

    #: Events the facade asks for per page (read, read_all, subscribe). The
    #: facade copies it when it takes the backend; ``store.page_size`` changes it.
    page_size: int = 512

    #: What stores the events, as OpenTelemetry's ``db.system.name`` names it
    #: (``"sqlite"``, ``"postgresql"``...); the append spans carry it.
    system: str = "other"

    #: Whether :class:`~eventflux.StoreUnavailableError` is passing trouble (a
    #: server restarting): live subscriptions then wait and read again instead
    #: of failing.
    outages_are_transient: bool = False

    @classmethod
    async def open(cls, url: SplitResult, options: dict[str, str], *, create: bool = True) -> Self:
        """Build the backend for ``url`` (used by :func:`~eventflux.open_store`).

        ``options`` holds the URL's query options that the facade left (it
        takes ``max_event_bytes`` and the append limits); pop yours and refuse
        the others with :class:`~eventflux.ConfigurationError`. With ``create``
        False, storage that holds no store yet is not set up: raise
        :class:`~eventflux.StoreNotFoundError` and leave it as it is. A backend
        that is not opened by URL keeps this default, which refuses.
        """
        raise ConfigurationError(f"{cls.__name__} cannot be opened from a URL")

    # -- writing ------------------------------------------------------------------------
    @abc.abstractmethod
    async def append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        """Append every batch in one transaction, or none; one result per batch.

        For each batch, in order: a hard-deleted stream raises
        :class:`~eventflux.StreamDeletedError`; stored event ids decide by
        :func:`check_idempotent_retry` (a retry's result is the original one
        and writes nothing); otherwise the stream's version must pass
        :func:`version_matches` (else :class:`~eventflux.ConcurrencyError`
        with the stream, the expected and the actual version). Events get the
        next versions of their stream and positions above every position ever
        handed out, in the order of the batches; ``recorded_at`` is the
        commit's time, never earlier than the stream's last one. Streams with
        retention limits drop what the limits no longer keep.
        """

    @abc.abstractmethod
    async def delete_stream(self, stream: str, *, hard: bool) -> None:
        """Soft: the stream reads as empty and leaves :meth:`streams`; its version
        stays and the global log keeps the events (a missing stream: nothing
        to do). Hard: erase its events and
        snapshot everywhere and refuse later appends to it (a missing stream
        becomes a hard-deleted one)."""

    @abc.abstractmethod
    async def set_stream_limits(self, stream: str, limits: StreamLimits) -> None:
        """Store the stream's retention limits (for a missing stream too) and drop
        at once the events they no longer keep."""

    @abc.abstractmethod
    async def save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None:
        """Replace the stream's snapshot; ``recorded_at`` is now."""

    # -- reading ------------------------------------------------------------------------
    @abc.abstractmethod
    async def read_stream_page(
        self,
        stream: str,
        start: int | None,
        limit: int,
        *,
        backwards: bool,
        as_of: datetime | None,
        now: datetime,
        codec: Codec,
    ) -> list[RecordedEvent]:
        """Up to ``limit`` (> 0) readable events of ``stream``, decoded by ``codec``.

        Forwards: versions from ``start`` up (None: from the first). Backwards:
        from ``start`` down (None: from the last). Readable: not soft-deleted,
        kept by the retention limits as measured at ``now`` (the start of the
        read; a backend whose clock is a database server's may measure at its
        own), and, with ``as_of``, recorded at or before it. A missing or
        hard-deleted stream reads as empty. The facade pages: it asks again
        from the version after the last one returned until a page comes back
        short.
        """

    @abc.abstractmethod
    async def read_all_page(
        self,
        after: int,
        limit: int,
        *,
        types: tuple[str, ...] | None,
        prefix: str | None,
        codec: Codec,
        correlation_id: str | None = None,
    ) -> LogPage:
        """Up to ``limit`` (> 0) events with positions above ``after``, in position
        order, decoded by ``codec``, and the page's mark (see :class:`LogPage`).

        ``types`` keeps only those event types (an empty tuple keeps none);
        ``prefix`` keeps the streams whose names start with it (plain,
        case-sensitive, by code point); ``correlation_id`` keeps the events
        whose metadata's ``correlation_id`` is that str (the
        :attr:`EncodedEvent.correlation_id <eventflux.codec.EncodedEvent>` they
        were appended with). Filters combine: an event must pass all of them.
        Find correlated events through an index, not by scanning the log: the
        audit trail asks for them on large stores. Events of hard-deleted
        streams are gone; soft-deleted and limit-hidden ones that are still
        stored stay.
        """

    @abc.abstractmethod
    async def stream_version(self, stream: str) -> int:
        """The stream's version: its number of events ever appended (0: none)."""

    @abc.abstractmethod
    async def last_position(self) -> int:
        """The highest position of a stored event (0 when there is none)."""

    async def head_position(self) -> int:
        """The highest position ever handed out to an event a reader can see (0 for
        a new store): :meth:`last_position`, and also the position of a newest
        event that was hard-deleted since. A checkpoint beyond it cannot come
        from this store. The default is :meth:`last_position`."""
        return await self.last_position()

    @abc.abstractmethod
    async def streams(self, prefix: str) -> list[str]:
        """Names starting with ``prefix`` of the streams that hold events and are
        not deleted (soft or hard) and were not emptied by their retention limits
        when these were last applied; sorted by code point."""

    @abc.abstractmethod
    async def stream_limits(self, stream: str) -> StreamLimits:
        """The stream's retention limits (both None when it has none)."""

    @abc.abstractmethod
    async def load_snapshot(self, stream: str) -> StoredSnapshot | None:
        """The stream's snapshot, or None."""

    @abc.abstractmethod
    async def store_id(self) -> str:
        """The store's identity: a str drawn once, when the storage was created
        (a UUID), the same for every handle on that storage and never again for
        another. Read models record it and refuse to follow another store, so
        it must survive restarts of a durable store.
        """

    # -- backups ------------------------------------------------------------------------
    async def backup(self, dest: str) -> int:
        """Write a consistent copy of the store, taken while it keeps working, to
        the new file ``dest`` (never replacing one), and return the last position
        the copy holds. Backends that cannot copy themselves keep this default,
        which raises :class:`~eventflux.StoreError` saying how to back them up.
        """
        raise StoreError(
            f"a {type(self).__name__} store cannot write a backup of itself; back up its "
            "storage with that storage's own tools"
        )

    # -- live subscriptions -------------------------------------------------------------
    async def start_waiting(self, wake: Callable[[], None]) -> float | None:
        """A live subscription has read everything and is about to wait for new
        events. Return the longest it may wait before it reads again (None: until
        woken).

        The facade wakes its subscriptions after each of its own appends. A
        backend whose storage other stores or processes also write makes sure
        that their commits call ``wake()`` (on the event loop) from now until
        :meth:`stop_waiting`, e.g. by starting a listener; or it returns a poll
        interval. Each call is paired with one :meth:`stop_waiting`. The
        default suits a backend nobody else writes: nothing to do.
        """
        return None

    def stop_waiting(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """A wait that :meth:`start_waiting` announced has ended."""

    # -- closing ------------------------------------------------------------------------
    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections, threads and files. The facade calls it once, after
        which it calls no other method; a call still running may raise
        :class:`~eventflux.StoreClosedError`."""
