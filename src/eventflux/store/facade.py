"""The event store users call: :class:`EventStore`.

It holds a :class:`~eventflux.store.backend.StoreBackend` and does the shared
work once, in its public methods: argument checks, stream-name rules,
encoding and the size limit, paging, live subscriptions, closing. The backend
receives validated, encoded input.

Example::

    async with await open_store("sqlite:///bank.db") as store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})],
                           expected_version=NO_STREAM)
        async for e in store.read("account-42"):
            print(e.version, e.type, e.data)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Self

from ..codec import Codec, EncodedEvent, default_codec
from ..events import AppendResult, NewEvent, RecordedEvent
from ..exceptions import (
    ArgumentTypeError,
    InvalidArgumentError,
    StoreClosedError,
    StoreUnavailableError,
)
from ..observability import metrics, tracing
from .backend import AppendBatch, StoreBackend
from .changes import Changes
from .encoding import (
    DEFAULT_MAX_APPEND_BYTES,
    DEFAULT_MAX_APPEND_EVENTS,
    SLICE_NS,
    Appending,
    encode_slice,
    prepare,
)
from .observe import log_append, logging_appends
from .types import ANY, ExpectedVersion, Snapshot, StreamLimits
from .validation import (
    DEFAULT_MAX_EVENT_BYTES,
    check_aware,
    check_count,
    check_filters,
    check_max_age,
    validate_event_type,
    validate_stream_name,
)

__all__ = ["EventStore"]


class _Filter(NamedTuple):
    """The checked filters of one read_all or subscribe."""

    types: tuple[str, ...] | None
    prefix: str | None
    correlation_id: str | None


#: Live subscriptions of a backend whose outages are transient retry a failed read
#: after this many seconds, doubling up to the maximum.
_OUTAGE_FIRST_DELAY = 0.05
_OUTAGE_MAX_DELAY = 1.0


class EventStore:
    """An append-only store of event streams with a global order.

    Open one with :func:`eventflux.open_store`, or build one around a backend
    (``EventStore(backend)``, see docs/backends.md). Every method is safe to
    call from many tasks at once. Leave ``async with`` (or ``await close()``)
    to end live subscriptions and release the database.
    """

    def __init__(
        self,
        backend: StoreBackend,
        *,
        codec: Codec | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_append_events: int = DEFAULT_MAX_APPEND_EVENTS,
        max_append_bytes: int = DEFAULT_MAX_APPEND_BYTES,
    ) -> None:
        check_count("max_event_bytes", max_event_bytes, allow_none=False, minimum=1)
        check_count("max_append_events", max_append_events, allow_none=False, minimum=1)
        check_count("max_append_bytes", max_append_bytes, allow_none=False, minimum=1)
        if not isinstance(backend, StoreBackend):
            raise ArgumentTypeError(f"backend must be a StoreBackend, not {type(backend).__name__}")
        self._backend = backend
        #: Encodes and decodes event data (may be replaced; reads use the current one).
        self.codec = codec if codec is not None else default_codec
        #: The size limit of one encoded event (data plus metadata), inclusive.
        self.max_event_bytes = max_event_bytes
        #: Most events one append (or append_many) takes.
        self.max_append_events = max_append_events
        #: Most encoded bytes (data plus metadata, every event) one append takes.
        self.max_append_bytes = max_append_bytes
        #: Events fetched per round trip by read, read_all and subscribe.
        self.page_size = backend.page_size
        self._closed = False
        self._changes = Changes()

    @property
    def backend(self) -> StoreBackend:
        """The backend this store keeps its events in."""
        return self._backend

    # -- lifecycle ----------------------------------------------------------------
    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the store: live subscriptions stop, later calls raise StoreClosedError."""
        if self._closed:
            return
        self._closed = True
        self._changes.notify()
        await self._backend.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the event store is closed")

    # -- writing ------------------------------------------------------------------
    async def append(
        self,
        stream: str,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append ``events`` to ``stream`` atomically.

        ``expected_version`` is the number of events the caller believes the
        stream holds (``NO_STREAM`` = 0), or ``ANY``, or ``STREAM_EXISTS``; a
        mismatch raises :class:`ConcurrencyError` and writes nothing. A retry of
        a stored batch (same ids, same order) returns the original result.

        Example::

            r = await store.append("account-42", [NewEvent("Deposited", {"amount": 5})], 3)
        """
        self._check_open()
        (batch,) = await self._encode([(stream, events, expected_version)])
        (result,) = await self._write([batch], f"append {batch.stream}")
        return result

    async def append_many(
        self, batches: Mapping[str, tuple[Sequence[NewEvent], ExpectedVersion]]
    ) -> dict[str, AppendResult]:
        """Append to several streams in one transaction: all or none.

        Example::

            await store.append_many({
                "account-1": ([NewEvent("Withdrawn", {"amount": 5})], 3),
                "account-2": ([NewEvent("Deposited", {"amount": 5})], 7),
            })
        """
        self._check_open()
        if not isinstance(batches, Mapping):
            raise ArgumentTypeError(
                "append_many takes a mapping {stream: (events, expected_version)}"
            )
        if not batches:
            raise InvalidArgumentError("append_many needs at least one stream")
        specs: list[tuple[object, object, object]] = []
        for stream, spec in batches.items():
            if not isinstance(spec, tuple) or len(spec) != 2:
                raise ArgumentTypeError(
                    f"append_many[{stream!r}] must be a tuple (events, expected_version)"
                )
            specs.append((stream, spec[0], spec[1]))
        parts = await self._encode(specs)
        results = await self._write(parts, "append_many")
        return {p.stream: r for p, r in zip(parts, results, strict=True)}

    async def _write(self, parts: list[AppendBatch], span_name: str) -> list[AppendResult]:
        """Append the encoded ``parts`` in one transaction, with what observability
        asks of an append: a span (tracing on), the log line (DEBUG on), the counter
        of events written (metrics on)."""
        logging_on = logging_appends()
        started = time.perf_counter() if logging_on else 0.0
        if tracing.enabled():
            events = sum(len(p.events) for p in parts)
            with self._span(span_name, ",".join(p.stream for p in parts), events):
                results = await self._backend.append(parts)
        else:
            results = await self._backend.append(parts)
        self._changes.notify()
        if logging_on:
            log_append(parts, results, time.perf_counter() - started)
        counted = metrics.current()
        if counted is not None:
            written = sum(
                len(p.events) for p, r in zip(parts, results, strict=True) if not r.retried
            )
            if written:
                counted.appended(written)
        return results

    async def _encode(self, specs: list[tuple[object, object, object]]) -> list[AppendBatch]:
        """Check and encode the parts ``(stream, events, expected_version)`` of one
        append. A large append is encoded in slices of at most about 10 ms, with
        other tasks running between them: it never holds the event loop for long."""
        appending = Appending(self.max_event_bytes, self.max_append_events, self.max_append_bytes)
        prepared = [
            prepare(stream, events, expected, appending) for stream, events, expected in specs
        ]
        codec = self.codec
        clock = time.perf_counter_ns
        out: list[AppendBatch] = []
        for name, expected, events in prepared:
            encoded: list[EncodedEvent] = []
            i = encode_slice(codec, name, events, 0, encoded, appending, clock() + SLICE_NS)
            while i < len(events):
                await asyncio.sleep(0)  # let the other tasks run
                i = encode_slice(codec, name, events, i, encoded, appending, clock() + SLICE_NS)
            out.append(AppendBatch(name, encoded, expected))
        return out

    def _span(self, name: str, streams: str, events: int) -> Any:
        """The OpenTelemetry span of one append (only called when tracing is on)."""
        return tracing.span(
            name,
            "client",
            **{
                "db.system.name": self._backend.system,
                "db.operation.name": "append",
                "db.collection.name": streams,
                "eventflux.events": events,
            },
        )

    # -- reading ------------------------------------------------------------------
    def read(
        self,
        stream: str,
        *,
        from_version: int | None = None,
        backwards: bool = False,
        limit: int | None = None,
        as_of: datetime | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Read one stream in version order (or backwards).

        ``from_version`` is inclusive in both directions; ``limit`` caps the
        count; ``as_of`` (aware datetime) returns only events recorded at or
        before it. A missing stream reads as empty.

        Example::

            async for e in store.read("account-42", from_version=10, limit=5):
                print(e.version, e.data)
        """
        self._check_open()
        name = validate_stream_name(stream)
        check_count("from_version", from_version, minimum=0)
        check_count("limit", limit)
        if as_of is not None:
            check_aware("as_of", as_of)
        return self._read_stream(name, from_version, bool(backwards), limit, as_of)

    def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        types: Iterable[str] | None = None,
        stream_prefix: str | None = None,
        correlation_id: str | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Read every event in global order, after position ``after`` (exclusive).

        ``types`` keeps only those event types; ``stream_prefix`` keeps streams
        starting with it (plain, case-sensitive); ``correlation_id`` keeps the
        events whose metadata holds ``correlation_id`` equal to it (found
        through an index, not a scan of the log). Filters combine (all must
        hold) and apply before ``limit``.

        Example::

            async for e in store.read_all(after=checkpoint, types=["Deposited"]):
                checkpoint = e.position
            chain = [e async for e in store.read_all(correlation_id="req-7")]
        """
        self._check_open()
        after, type_filter, prefix, correlation = check_filters(
            after, types, stream_prefix, correlation_id
        )
        check_count("limit", limit)
        return self._read_log(after, limit, _Filter(type_filter, prefix, correlation))

    def subscribe(
        self,
        *,
        after: int = 0,
        types: Iterable[str] | None = None,
        stream_prefix: str | None = None,
        correlation_id: str | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after ``after``: first those stored, then new ones as they
        commit. The iteration ends only when the store closes, the iterator is
        closed or its task is cancelled. The filters are those of :meth:`read_all`.

        Example::

            async for event in store.subscribe(after=checkpoint):
                handle(event)
                checkpoint = event.position
        """
        self._check_open()
        after, type_filter, prefix, correlation = check_filters(
            after, types, stream_prefix, correlation_id
        )
        return self._live(after, _Filter(type_filter, prefix, correlation))

    async def _read_stream(
        self,
        stream: str,
        from_version: int | None,
        backwards: bool,
        limit: int | None,
        as_of: datetime | None,
    ) -> AsyncIterator[RecordedEvent]:
        """A stream read, one page at a time (each page from the version after
        the last one delivered)."""
        backend = self._backend
        now = datetime.now(UTC)  # retention limits are measured from the start of the read
        start = from_version
        remaining = limit
        while remaining is None or remaining > 0:
            n = self.page_size if remaining is None else min(self.page_size, remaining)
            events = await backend.read_stream_page(
                stream, start, n, backwards=backwards, as_of=as_of, now=now, codec=self.codec
            )
            for e in events:
                yield e
            if len(events) < n:
                return
            if remaining is not None:
                remaining -= len(events)
            start = events[-1].version + (-1 if backwards else 1)
            await asyncio.sleep(0)  # a backend in memory never waits: let other tasks run

    async def _read_log(
        self, after: int, limit: int | None, where: _Filter
    ) -> AsyncIterator[RecordedEvent]:
        backend = self._backend
        types, prefix, correlation = where
        remaining = limit
        while True:
            n = self.page_size if remaining is None else min(self.page_size, remaining)
            if n == 0:
                return
            events, mark = await backend.read_all_page(
                after, n, types=types, prefix=prefix, codec=self.codec, correlation_id=correlation
            )
            for e in events:
                yield e
            if remaining is not None:
                remaining -= len(events)
            if len(events) < n:
                return
            after = mark
            await asyncio.sleep(0)  # a backend in memory never waits: let other tasks run

    async def _live(self, after: int, where: _Filter) -> AsyncIterator[RecordedEvent]:
        """The live loop: read pages until one comes back short, then wait for a
        change; a backend whose outages are transient is waited out."""
        backend = self._backend
        types, prefix, correlation = where
        delay = _OUTAGE_FIRST_DELAY
        while not self._closed:
            generation = self._changes.generation
            n = self.page_size
            try:
                events, mark = await backend.read_all_page(
                    after,
                    n,
                    types=types,
                    prefix=prefix,
                    codec=self.codec,
                    correlation_id=correlation,
                )
            except StoreClosedError:
                if self.closed:  # a property: mypy must not narrow it across the await
                    return  # closing the store ends its live subscriptions
                raise
            except StoreUnavailableError:
                if not backend.outages_are_transient:
                    raise
                # closing the store wakes this wait, and the loop ends
                await self._changes.wait(self._changes.generation, delay)
                delay = min(delay * 2, _OUTAGE_MAX_DELAY)
                continue
            delay = _OUTAGE_FIRST_DELAY
            for e in events:
                yield e
            after = mark
            if len(events) < n:
                await self._wait_for_change(generation)
            else:
                await asyncio.sleep(0)  # a backend in memory never waits: let other tasks run

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 when it has no events)."""
        self._check_open()
        return await self._backend.stream_version(validate_stream_name(stream))

    async def last_position(self) -> int:
        """The highest position a reader can see now (0 for an empty store)."""
        self._check_open()
        return await self._backend.last_position()

    async def head_position(self) -> int:
        """The highest position ever given to an event that readers can see: the
        :meth:`last_position`, or the position of the newest events if they were
        hard-deleted since. No checkpoint taken from this store is beyond it."""
        self._check_open()
        return await self._backend.head_position()

    async def store_id(self) -> str:
        """The store's identity: a UUID string drawn when its storage was created,
        the same for every handle and process on it (a ``memory://`` store gets
        a fresh one). Read models record it, so they never follow another store.

        Example::

            assert await store.store_id() == await other_handle.store_id()
        """
        self._check_open()
        return await self._backend.store_id()

    async def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams that hold readable events, sorted, optionally by prefix."""
        self._check_open()
        if not isinstance(prefix, str):
            raise ArgumentTypeError("prefix must be a str")
        return await self._backend.streams(prefix)

    # -- administration -------------------------------------------------------------
    async def delete_stream(self, stream: str, *, hard: bool = False) -> None:
        """Delete a stream.

        Soft (default): the stream reads as empty and leaves ``streams()``; its
        version is kept, so appending again continues the numbering; the
        global log (``read_all``) keeps the events for audit. ``hard=True``
        erases the events from storage everywhere and forbids further appends
        (:class:`StreamDeletedError`).
        """
        self._check_open()
        await self._backend.delete_stream(validate_stream_name(stream), hard=bool(hard))

    async def set_stream_limits(
        self,
        stream: str,
        *,
        max_count: int | None = None,
        max_age: timedelta | None = None,
    ) -> None:
        """Keep only the newest ``max_count`` events of ``stream`` and those younger
        than ``max_age``. Older events are hidden from ``read`` and removed from
        storage when the stream is next written. ``None`` lifts a limit."""
        self._check_open()
        name = validate_stream_name(stream)
        check_count("max_count", max_count, minimum=1)
        check_max_age(max_age)
        await self._backend.set_stream_limits(name, StreamLimits(max_count, max_age))

    async def stream_limits(self, stream: str) -> StreamLimits:
        """The retention limits of ``stream`` (both None when unlimited)."""
        self._check_open()
        return await self._backend.stream_limits(validate_stream_name(stream))

    # -- snapshots ----------------------------------------------------------------
    async def save_snapshot(
        self, stream: str, version: int, state: Any, *, type: str | None = None
    ) -> None:
        """Save ``state`` as the snapshot of ``stream`` at ``version``, replacing an
        older one. ``state`` is a JSON mapping or a registered class instance;
        ``type`` names it (default: its registered name, else ``"snapshot"``)."""
        self._check_open()
        name = validate_stream_name(stream)
        check_count("version", version, allow_none=False, minimum=1)
        type_name = validate_event_type(type or self.codec.type_name_of(state) or "snapshot")
        data, schema = self.codec.encode_data(type_name, state)
        await self._backend.save_snapshot(name, version, type_name, data, schema)

    async def load_snapshot(self, stream: str) -> Snapshot | None:
        """The latest snapshot of ``stream``, or None. Its data is upcast and decoded
        like events; undecodable data raises DeserializationError."""
        self._check_open()
        stored = await self._backend.load_snapshot(validate_stream_name(stream))
        if stored is None:
            return None
        data = self.codec.decode_data(stored.type, stored.data, stored.schema_version)
        return Snapshot(
            stream, stored.version, data, stored.type, stored.schema_version, stored.recorded_at
        )

    # -- backups ------------------------------------------------------------------------
    async def backup(self, dest: str | os.PathLike[str]) -> int:
        """Write a consistent copy of the store to the new file ``dest`` while the
        store keeps working (other processes too), and return the last position
        the copy holds: every event committed before the call is in it, and it
        is a prefix of the store's history. ``dest`` must not exist (a backup
        never replaces a file). SQLite stores only; a PostgreSQL store is backed
        up with ``pg_dump`` (docs/store.md says how).

        Example::

            last = await store.backup("/backups/bank-2024-06-01.db")
        """
        self._check_open()
        if not isinstance(dest, str | os.PathLike):
            raise ArgumentTypeError(f"dest must be a path, not {type(dest).__name__}")
        return await self._backend.backup(os.fspath(dest))

    # -- waiting for changes ---------------------------------------------------------
    async def _wait_for_change(self, generation: int) -> None:
        """Wait until something may have changed since ``generation``, or for as
        long as the backend says (its poll interval)."""
        if self._closed:
            return
        backend = self._backend
        timeout = await backend.start_waiting(self._changes.notify)
        try:
            if not self._closed:
                await self._changes.wait(generation, timeout)
        finally:
            backend.stop_waiting()
