"""Encoding an append: each event checked and turned into bytes once, by the
facade, before a backend sees it; the limits of one append; and slices, so a
large append never holds the event loop for long.

An :class:`Appending` is the state of one ``append`` or ``append_many`` call:
its limits, the ids seen so far (an id used twice in one append is refused),
and the events and bytes counted against the limits. :func:`prepare` checks
one stream's part (name, expected version, the list); :func:`encode_slice`
encodes its events until they are done or a time slice is used up, so the
facade can let other tasks run between slices.

Example::

    appending = Appending(1024 * 1024, 10_000, 64 * 1024 * 1024)
    name, expected, events = prepare("account-42", events, 0, appending)
    encoded: list[EncodedEvent] = []
    i = 0
    while i < len(events):
        i = encode_slice(codec, name, events, i, encoded, appending, deadline_ns)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from ..codec import Codec, EncodedEvent
from ..context import current_metadata
from ..events import CORRELATION_ID, NewEvent
from ..exceptions import (
    AppendTooLargeError,
    ArgumentTypeError,
    DuplicateEventError,
    EventTooLargeError,
    InvalidArgumentError,
    SerializationError,
)
from .types import ExpectedVersion
from .validation import (
    check_expected_version,
    validate_event_type,
    validate_stream_name,
)

__all__ = [
    "DEFAULT_MAX_APPEND_BYTES",
    "DEFAULT_MAX_APPEND_EVENTS",
    "SLICE_NS",
    "Appending",
    "encode_slice",
    "prepare",
]

#: Most events one append (or append_many) takes, by default.
DEFAULT_MAX_APPEND_EVENTS: Final = 10_000
#: Most encoded bytes (data plus metadata of every event) one append takes, by default.
DEFAULT_MAX_APPEND_BYTES: Final = 64 * 1024 * 1024
#: How long one slice of encoding may hold the event loop (10 ms).
SLICE_NS: Final = 10_000_000

_EMPTY_META: Final = b""  # the encoding of no metadata
_CHECK_EVERY: Final = 16  # events between looks at the clock
_BIG_EVENT: Final = 64 * 1024  # an event this large is followed by a look at the clock


@dataclass(slots=True)
class Appending:
    """The state of one append call while it is checked and encoded: its limits
    (the size of one encoded event, the events and encoded bytes of the whole
    call), the ids seen so far and what has been counted."""

    max_event_bytes: int
    max_append_events: int
    max_append_bytes: int
    #: Event ids (as ints: they hash in C) of the whole call.
    seen: set[int] = field(default_factory=set)
    events: int = 0
    bytes: int = 0


def prepare(
    stream: object, events: object, expected_version: object, appending: Appending
) -> tuple[str, ExpectedVersion, list[NewEvent]]:
    """Check one stream's part of an append: its name, its expected version and
    its events (a non-empty list, counted against the append's limit)."""
    name = validate_stream_name(stream)
    expected = check_expected_version(expected_version)
    if isinstance(events, NewEvent) or not isinstance(events, Sequence | Iterable):
        raise ArgumentTypeError("events must be a list of NewEvent")
    listed = list(events)
    if not listed:
        raise InvalidArgumentError(f"cannot append an empty list of events to {name!r}")
    appending.events += len(listed)
    limit = appending.max_append_events
    if appending.events > limit:
        raise AppendTooLargeError(
            f"this append holds {appending.events} events; one append takes at most {limit} "
            "(URL option max_append_events): append them in several calls"
        )
    return name, expected, listed


def encode_slice(
    codec: Codec,
    stream: str,
    events: list[NewEvent],
    start: int,
    out: list[EncodedEvent],
    appending: Appending,
    deadline_ns: int,
) -> int:
    """Check and encode ``events[start:]`` into ``out`` until they are done or the
    clock passes ``deadline_ns`` (``time.perf_counter_ns``); return the index of
    the next event to encode (``len(events)`` when done).

    Raises before anything is written: InvalidEventType, SerializationError,
    EventTooLargeError, AppendTooLargeError, DuplicateEventError or
    ArgumentTypeError.
    """
    max_event_bytes = appending.max_event_bytes
    seen = appending.seen
    checked: set[str] = set()
    ambient = current_metadata()  # stamped on every event; the event's own keys win
    clock = time.perf_counter_ns
    n = len(events)
    i = start
    while i < n:
        ev = events[i]
        i += 1
        if type(ev) is not NewEvent and not isinstance(ev, NewEvent):
            raise ArgumentTypeError(f"events must be NewEvent instances, got {type(ev).__name__}")
        key = ev.id.int
        if key in seen:
            raise DuplicateEventError(ev.id, "appears twice in one append")
        seen.add(key)
        type_name = ev.type
        if type_name not in checked:
            validate_event_type(type_name)
            checked.add(type_name)
        if type(ev.data) is not dict:  # a dict is never a registered class
            registered = codec.type_name_of(ev.data)
            if registered is not None and registered != type_name:
                raise SerializationError(
                    f"event type {type_name!r} does not match the registered type "
                    f"{registered!r} of its data"
                )
        data, schema = codec.encode_data(type_name, ev.data)
        own = ev.metadata
        if ambient:
            own = {**ambient, **own} if own else dict(ambient)
        meta = _EMPTY_META if own is None else codec.encode_metadata(own)
        correlation = None if not own else own.get(CORRELATION_ID)
        size = len(data) + len(meta)
        if size > max_event_bytes:
            raise EventTooLargeError(
                f"event {ev.type!r} is {size} bytes encoded; the limit is {max_event_bytes} "
                "(URL option max_event_bytes)"
            )
        appending.bytes += size
        if appending.bytes > appending.max_append_bytes:
            raise AppendTooLargeError(
                f"this append holds more than {appending.max_append_bytes} bytes of encoded "
                "events (URL option max_append_bytes): append them in several calls"
            )
        out.append(
            EncodedEvent(
                ev.id,
                type_name,
                data,
                meta,
                schema,
                correlation if type(correlation) is str else None,
            )
        )
        if (i % _CHECK_EVERY == 0 or size >= _BIG_EVENT) and clock() > deadline_ns:
            break
    return i
