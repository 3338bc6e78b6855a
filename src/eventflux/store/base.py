"""The event store port.

:class:`EventStore` does the shared work once, in its public methods:
argument checks, stream-name rules, encoding and the size limit, paging, live
subscriptions. A backend subclasses it and fills in the private ``_hooks``,
which receive validated, encoded input.

Example::

    async with await open_store("sqlite:///bank.db") as store:
        await store.append("account-42", [NewEvent("Deposited", {"amount": 100})],
                           expected_version=NO_STREAM)
        async for e in store.read("account-42"):
            print(e.version, e.type, e.data)
"""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Self

from .._internal.sentinels import Sentinel
from ..codec import Codec, EncodedEvent, default_codec
from ..context import stamp_events
from ..events import AppendResult, NewEvent, RecordedEvent
from ..exceptions import (
    DuplicateEventError,
    EventTooLargeError,
    InvalidEventType,
    InvalidStreamName,
    SerializationError,
    StoreClosedError,
)

__all__ = [
    "ANY",
    "AppendBatch",
    "DEFAULT_MAX_EVENT_BYTES",
    "EventStore",
    "ExpectedVersion",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Snapshot",
    "StreamLimits",
    "validate_event_type",
    "validate_stream_name",
]

DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024
MAX_STREAM_NAME: Final = 255


NO_STREAM: Final = 0
"""Expected version of a stream that has no events yet."""
ANY: Final = Sentinel("ANY", __name__)
"""Expected version that skips the check."""
STREAM_EXISTS: Final = Sentinel("STREAM_EXISTS", __name__)
"""Expected version that requires at least one event in the stream."""

ExpectedVersion = int | Sentinel

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly


def _validate_name(
    value: object, what: str, error: type[InvalidStreamName] | type[InvalidEventType]
) -> str:
    if not isinstance(value, str):
        raise error(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise error(f"{what} must not be empty")
    if len(value) > MAX_STREAM_NAME:
        raise error(f"{what} has {len(value)} characters; the limit is {MAX_STREAM_NAME}")
    m = _CONTROL.search(value)
    if m is not None:
        raise error(f"{what} {value!r} holds the control character U+{ord(m.group()):04X}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise error(f"{what} {value!r} is not valid Unicode: {e}") from None
    return value


_valid_types: dict[str, None] = {}
_EMPTY_META: Final = b""  # the encoding of no metadata


def validate_stream_name(stream: object) -> str:
    """Return ``stream`` if it is a valid stream name, else raise InvalidStreamName.

    A name has 1 to 255 code points and no control characters (category Cc).
    """
    return _validate_name(stream, "stream name", InvalidStreamName)


def validate_event_type(type_name: object) -> str:
    """Event type names follow the stream-name rules (raises InvalidEventType)."""
    if type_name in _valid_types:  # hot path: the same few type names again and again
        return type_name
    result = _validate_name(type_name, "event type", InvalidEventType)
    if len(_valid_types) < 10_000:
        _valid_types[result] = None
    return result


def check_expected_version(expected: object) -> ExpectedVersion:
    if expected is ANY or expected is STREAM_EXISTS:
        return expected
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise TypeError(
            "expected_version must be a non-negative int, NO_STREAM, ANY or STREAM_EXISTS, "
            f"not {expected!r}"
        )
    if expected < 0:
        raise ValueError(f"expected_version must not be negative, got {expected}")
    return expected


def version_matches(expected: ExpectedVersion, actual: int) -> bool:
    if expected is ANY:
        return True
    if expected is STREAM_EXISTS:
        return actual > 0
    return expected == actual


def _check_count(name: str, value: object, *, allow_none: bool = True, minimum: int = 0) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_aware(name: str, value: object) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be an aware datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise TypeError(f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got naive")


@dataclass(frozen=True, slots=True)
class AppendBatch:
    """One stream's part of an append, validated and encoded (backend input)."""

    stream: str
    events: list[EncodedEvent]
    expected_version: ExpectedVersion


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest saved state of a stream at ``version``."""

    stream: str
    version: int
    data: Any
    type: str
    schema_version: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Per-stream retention: keep the newest ``max_count`` events and those younger
    than ``max_age``; older ones are hidden from ``read`` and removed from storage."""

    max_count: int | None = None
    max_age: timedelta | None = None


def check_idempotent_retry(
    batch: AppendBatch, stored: Mapping[Any, tuple[str, int, int]]
) -> AppendResult | None:
    """Decide what an append whose ids are (partly) stored means.

    ``stored`` maps each already-stored id of the batch to (stream, version,
    position). Returns the original result for a retry of a stored batch, None
    when no id is stored, and raises DuplicateEventError otherwise.
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
    return AppendResult(stored[first][1], prev[1], prev[2])


class EventStore(abc.ABC):
    """An append-only store of event streams with a global order.

    Open one with :func:`eventflux.open_store`. Every method is safe to call
    from many tasks at once. Leave ``async with`` (or ``await close()``) to end
    live subscriptions and release the database.
    """

    #: Events fetched per round trip by read_all and subscribe.
    page_size: int = 512

    def __init__(
        self, *, codec: Codec | None = None, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ):
        _check_count("max_event_bytes", max_event_bytes, allow_none=False, minimum=1)
        self.codec = codec if codec is not None else default_codec
        self.max_event_bytes = max_event_bytes
        self._closed = False
        self._generation = 0
        self._changed = asyncio.Event()

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
        self._notify_appended()
        await self._close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the event store is closed")

    # -- writing ------------------------------------------------------------------
    def _encode_batch(
        self, stream: object, events: object, expected_version: object, seen: set[int]
    ) -> AppendBatch:
        name = validate_stream_name(stream)
        expected = check_expected_version(expected_version)
        if isinstance(events, NewEvent) or not isinstance(events, Sequence | Iterable):
            raise TypeError("events must be a list of NewEvent")
        events = list(events)
        if not events:
            raise ValueError(f"cannot append an empty list of events to {name!r}")
        encoded: list[EncodedEvent] = []
        codec = self.codec
        limit = self.max_event_bytes
        for ev in events:
            if type(ev) is not NewEvent and not isinstance(ev, NewEvent):
                raise TypeError(f"events must be NewEvent instances, got {type(ev).__name__}")
            key = ev.id.int  # an int hashes in C; a UUID's hash is Python code
            if key in seen:
                raise DuplicateEventError(ev.id, "appears twice in one append")
            seen.add(key)
            type_name = ev.type
            if type_name not in _valid_types:
                validate_event_type(type_name)
            if type(ev.data) is not dict:  # a dict is never a registered class
                registered = codec.type_name_of(ev.data)
                if registered is not None and registered != type_name:
                    raise SerializationError(
                        f"event type {type_name!r} does not match the registered type "
                        f"{registered!r} of its data"
                    )
            data, schema = codec.encode_data(type_name, ev.data)
            meta = _EMPTY_META if ev.metadata is None else codec.encode_metadata(ev.metadata)
            size = len(data) + len(meta)
            if size > limit:
                raise EventTooLargeError(
                    f"event {ev.type!r} is {size} bytes encoded; the limit is {limit} "
                    "(URL option max_event_bytes)"
                )
            encoded.append(EncodedEvent(ev.id, type_name, data, meta, schema))
        return AppendBatch(name, encoded, expected)

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
        """
        self._check_open()
        if type(events) is list:
            events = stamp_events(events)
        elif isinstance(events, Iterable) and not isinstance(events, NewEvent | str):
            events = stamp_events(list(events))
        batch = self._encode_batch(stream, events, expected_version, set())
        (result,) = await self._append([batch])
        self._notify_appended()
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
            raise TypeError("append_many takes a mapping {stream: (events, expected_version)}")
        if not batches:
            raise ValueError("append_many needs at least one stream")
        seen: set[int] = set()
        parts: list[AppendBatch] = []
        for stream, spec in batches.items():
            if not isinstance(spec, tuple) or len(spec) != 2:
                raise TypeError(
                    f"append_many[{stream!r}] must be a tuple (events, expected_version)"
                )
            events = spec[0]
            if isinstance(events, Iterable) and not isinstance(events, NewEvent | str):
                events = stamp_events(list(events))
            parts.append(self._encode_batch(stream, events, spec[1], seen))
        results = await self._append(parts)
        self._notify_appended()
        return {p.stream: r for p, r in zip(parts, results, strict=True)}

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
        """
        self._check_open()
        name = validate_stream_name(stream)
        _check_count("from_version", from_version, minimum=0)
        _check_count("limit", limit)
        if as_of is not None:
            _check_aware("as_of", as_of)
        return self._read(name, from_version, bool(backwards), limit, as_of)

    def read_all(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        types: Iterable[str] | None = None,
        stream_prefix: str | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Read every event in global order, after position ``after`` (exclusive).

        ``types`` keeps only those event types; ``stream_prefix`` keeps streams
        starting with it (plain, case-sensitive). Filters apply before ``limit``.
        """
        self._check_open()
        after, type_filter, prefix = self._check_filters(after, types, stream_prefix)
        _check_count("limit", limit)
        return self._iter_all(after, limit, type_filter, prefix)

    def subscribe(
        self,
        *,
        after: int = 0,
        types: Iterable[str] | None = None,
        stream_prefix: str | None = None,
    ) -> AsyncIterator[RecordedEvent]:
        """Every event after ``after``: first those stored, then new ones as they
        commit. The iteration ends only when the store closes, the iterator is
        closed or its task is cancelled.

        Example::

            async for event in store.subscribe(after=checkpoint):
                handle(event)
                checkpoint = event.position
        """
        self._check_open()
        after, type_filter, prefix = self._check_filters(after, types, stream_prefix)
        return self._iter_live(after, type_filter, prefix)

    @staticmethod
    def _check_filters(
        after: object, types: Iterable[str] | None, prefix: str | None
    ) -> tuple[int, tuple[str, ...] | None, str | None]:
        _check_count("after", after, allow_none=False)
        assert isinstance(after, int)
        type_filter: tuple[str, ...] | None = None
        if types is not None:
            if isinstance(types, str):
                raise TypeError("types must be a collection of type names, not a str")
            type_filter = tuple(types)
            if not all(isinstance(t, str) for t in type_filter):
                raise TypeError("types must hold str type names")
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError("stream_prefix must be a str")
        return after, type_filter, prefix or None

    async def _read_in_pages(
        self,
        page: Callable[[int | None, int], Awaitable[list[RecordedEvent]]],
        from_version: int | None,
        backwards: bool,
        limit: int | None,
    ) -> AsyncIterator[RecordedEvent]:
        """A stream read, one ``page(start_version, n)`` at a time (for backends
        that fetch a stream in pages; ``start_version`` None: from the end the
        read starts at)."""
        start = from_version
        remaining = limit
        while remaining is None or remaining > 0:
            n = self.page_size if remaining is None else min(self.page_size, remaining)
            events = await page(start, n)
            for e in events:
                yield e
            if len(events) < n:
                return
            if remaining is not None:
                remaining -= len(events)
            start = events[-1].version + (-1 if backwards else 1)

    async def _iter_all(
        self, after: int, limit: int | None, types: tuple[str, ...] | None, prefix: str | None
    ) -> AsyncIterator[RecordedEvent]:
        remaining = limit
        while True:
            n = self.page_size if remaining is None else min(self.page_size, remaining)
            if n == 0:
                return
            events, mark = await self._read_all_page(after, n, types, prefix)
            for e in events:
                yield e
            if remaining is not None:
                remaining -= len(events)
            if len(events) < n:
                return
            after = mark

    async def _iter_live(
        self, after: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> AsyncIterator[RecordedEvent]:
        while not self._closed:
            generation = self._generation
            try:
                events, mark = await self._read_all_page(after, self.page_size, types, prefix)
            except StoreClosedError:
                if self.closed:  # a property: mypy must not narrow it across the await
                    return  # closing the store ends its live subscriptions
                raise
            for e in events:
                yield e
            after = mark
            if len(events) < self.page_size:
                await self._wait_for_change(generation)

    async def stream_version(self, stream: str) -> int:
        """The stream's current version (0 when it has no events)."""
        self._check_open()
        return await self._stream_version(validate_stream_name(stream))

    async def last_position(self) -> int:
        """The highest position a reader can see now (0 for an empty store)."""
        self._check_open()
        return await self._last_position()

    async def streams(self, prefix: str = "") -> list[str]:
        """Names of the streams that hold readable events, sorted, optionally by prefix."""
        self._check_open()
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a str")
        return await self._streams(prefix)

    async def delete_stream(self, stream: str, *, hard: bool = False) -> None:
        """Delete a stream.

        Soft (default): the stream reads as empty and leaves ``streams()``; its
        version is kept, so appending again continues the numbering; the
        global log (``read_all``) keeps the events for audit. ``hard=True``
        erases the events from storage everywhere and forbids further appends
        (:class:`StreamDeletedError`).
        """
        self._check_open()
        await self._delete_stream(validate_stream_name(stream), bool(hard))

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
        _check_count("max_count", max_count, minimum=1)
        if max_age is not None:
            if not isinstance(max_age, timedelta):
                raise TypeError("max_age must be a datetime.timedelta")
            if max_age <= timedelta(0):
                raise ValueError("max_age must be positive")
        await self._set_stream_limits(name, StreamLimits(max_count, max_age))

    async def stream_limits(self, stream: str) -> StreamLimits:
        """The retention limits of ``stream`` (both None when unlimited)."""
        self._check_open()
        return await self._stream_limits(validate_stream_name(stream))

    # -- snapshots ----------------------------------------------------------------
    async def save_snapshot(
        self, stream: str, version: int, state: Any, *, type: str | None = None
    ) -> None:
        """Save ``state`` as the snapshot of ``stream`` at ``version``, replacing an
        older one. ``state`` is a JSON mapping or a registered class instance;
        ``type`` names it (default: its registered name, else ``"snapshot"``)."""
        self._check_open()
        name = validate_stream_name(stream)
        _check_count("version", version, allow_none=False, minimum=1)
        type_name = type or self.codec.type_name_of(state) or "snapshot"
        data, schema = self.codec.encode_data(type_name, state)
        await self._save_snapshot(name, version, type_name, data, schema)

    async def load_snapshot(self, stream: str) -> Snapshot | None:
        """The latest snapshot of ``stream``, or None. Its data is upcast and decoded
        like events; undecodable data raises DeserializationError."""
        self._check_open()
        row = await self._load_snapshot(validate_stream_name(stream))
        if row is None:
            return None
        version, type_name, raw, schema, at = row
        data = self.codec.decode_data(type_name, raw, schema)
        return Snapshot(stream, version, data, type_name, schema, at)

    # -- change notification --------------------------------------------------------
    def _notify_appended(self) -> None:
        """Wake live subscriptions: something may have been appended (or closed)."""
        self._generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_for_change(self, generation: int) -> None:
        if self._generation != generation or self._closed:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), self._poll_interval())
        except TimeoutError:
            pass

    def _poll_interval(self) -> float | None:
        """Longest wait for a notification before re-reading (None = forever)."""
        return None

    def _decode(
        self,
        id: Any,
        stream: str,
        version: int,
        position: int,
        type_name: str,
        data: bytes,
        metadata: bytes | None,
        schema_version: int,
        recorded_at: datetime,
    ) -> RecordedEvent:
        return RecordedEvent(
            id,
            stream,
            version,
            position,
            type_name,
            self.codec.decode_data(type_name, data, schema_version),
            self.codec.decode_metadata(metadata),
            recorded_at,
        )

    # -- backend hooks ------------------------------------------------------------
    @abc.abstractmethod
    async def _append(self, batches: list[AppendBatch]) -> list[AppendResult]:
        """Append all batches in one transaction or none; apply the expected-version
        and idempotency rules (see :func:`check_idempotent_retry`)."""

    @abc.abstractmethod
    def _read(
        self,
        stream: str,
        from_version: int | None,
        backwards: bool,
        limit: int | None,
        as_of: datetime | None,
    ) -> AsyncIterator[RecordedEvent]: ...

    @abc.abstractmethod
    async def _read_all_page(
        self, after: int, limit: int, types: tuple[str, ...] | None, prefix: str | None
    ) -> tuple[list[RecordedEvent], int]:
        """Up to ``limit`` matching events after ``after``, and the position up to
        which the scan is complete (at least the last event's position; when
        fewer than ``limit`` events came back, the highest position that is safe
        to skip to, i.e. no event at or below it can still become visible)."""

    @abc.abstractmethod
    async def _stream_version(self, stream: str) -> int: ...

    @abc.abstractmethod
    async def _last_position(self) -> int: ...

    @abc.abstractmethod
    async def _streams(self, prefix: str) -> list[str]: ...

    @abc.abstractmethod
    async def _delete_stream(self, stream: str, hard: bool) -> None: ...

    @abc.abstractmethod
    async def _set_stream_limits(self, stream: str, limits: StreamLimits) -> None: ...

    @abc.abstractmethod
    async def _stream_limits(self, stream: str) -> StreamLimits: ...

    @abc.abstractmethod
    async def _save_snapshot(
        self, stream: str, version: int, type_name: str, data: bytes, schema_version: int
    ) -> None: ...

    @abc.abstractmethod
    async def _load_snapshot(self, stream: str) -> tuple[int, str, bytes, int, datetime] | None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...
