"""The event store's input rules, checked once by the facade before a backend
sees anything: stream names, event types, expected versions, counts, times,
and the encoding of events with the size limit.

Example::

    validate_stream_name("account-42")          # returns it
    validate_stream_name("bad\\nname")          # raises InvalidStreamName
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

from ..codec import Codec, EncodedEvent
from ..context import current_metadata
from ..events import CORRELATION_ID, NewEvent
from ..exceptions import (
    ArgumentTypeError,
    DuplicateEventError,
    EventTooLargeError,
    InvalidArgumentError,
    InvalidEventType,
    InvalidStreamName,
    SerializationError,
)
from .backend import AppendBatch
from .types import ANY, STREAM_EXISTS, ExpectedVersion

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "MAX_AGE",
    "MAX_INT",
    "MAX_STREAM_NAME",
    "check_aware",
    "check_count",
    "check_expected_version",
    "check_max_age",
    "check_filters",
    "encode_batch",
    "validate_event_type",
    "validate_stream_name",
]

#: The default size limit of one encoded event (data plus metadata), inclusive.
DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024
#: The longest stream name (and event type), in code points.
MAX_STREAM_NAME: Final = 255
#: The largest version, position, count or limit: every backend stores them as
#: signed 64-bit integers.
MAX_INT: Final = 2**63 - 1
#: The longest retention age (``max_age``): a thousand years.
MAX_AGE: Final = timedelta(days=365_250)

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
_EMPTY_META: Final = b""  # the encoding of no metadata
_valid_types: dict[str, None] = {}


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
    """Return ``expected`` if it is an int from 0 to 2**63 - 1, ``ANY`` or
    ``STREAM_EXISTS``; else raise ArgumentTypeError (a TypeError: wrong type)
    or InvalidArgumentError (a ValueError: out of range)."""
    if expected is ANY or expected is STREAM_EXISTS:
        return expected
    if isinstance(expected, bool) or not isinstance(expected, int):
        raise ArgumentTypeError(
            "expected_version must be a non-negative int, NO_STREAM, ANY or STREAM_EXISTS, "
            f"not {expected!r}"
        )
    if expected < 0:
        raise InvalidArgumentError(f"expected_version must not be negative, got {expected}")
    if expected > MAX_INT:
        raise InvalidArgumentError(
            f"expected_version must be at most 2**63 - 1 (the largest version a store "
            f"keeps), got {expected}"
        )
    return expected


def check_count(name: str, value: object, *, allow_none: bool = True, minimum: int = 0) -> None:
    """Raise ArgumentTypeError (a TypeError) unless ``value`` is an int (or None
    when allowed), and InvalidArgumentError (a ValueError) when it is below
    ``minimum`` or above 2**63 - 1 (what every backend stores)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentTypeError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
    if value > MAX_INT:
        raise InvalidArgumentError(
            f"{name} must be at most 2**63 - 1 (the 64-bit integers stores keep), got {value}"
        )


def check_aware(name: str, value: object) -> None:
    """Raise ArgumentTypeError (a TypeError) unless ``value`` is a timezone-aware
    datetime."""
    if not isinstance(value, datetime):
        raise ArgumentTypeError(f"{name} must be an aware datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ArgumentTypeError(
            f"{name} must be timezone-aware (e.g. datetime.now(UTC)), got naive"
        )


def check_max_age(max_age: object) -> None:
    """Raise unless ``max_age`` is None or a positive timedelta of at most
    :data:`MAX_AGE`."""
    if max_age is None:
        return
    if not isinstance(max_age, timedelta):
        raise ArgumentTypeError(f"max_age must be a datetime.timedelta, not {max_age!r}")
    if max_age <= timedelta(0):
        raise InvalidArgumentError(f"max_age must be positive, got {max_age}")
    if max_age > MAX_AGE:
        raise InvalidArgumentError(f"max_age must be at most 1000 years, got {max_age}")


def check_filters(
    after: object,
    types: Iterable[str] | None,
    prefix: str | None,
    correlation_id: str | None = None,
) -> tuple[int, tuple[str, ...] | None, str | None, str | None]:
    """The checked ``after``, ``types``, ``stream_prefix`` and ``correlation_id``
    of read_all and subscribe (an empty prefix is no filter)."""
    check_count("after", after, allow_none=False)
    assert isinstance(after, int)
    type_filter: tuple[str, ...] | None = None
    if types is not None:
        if isinstance(types, str) or not isinstance(types, Iterable):
            raise ArgumentTypeError("types must be a collection of type names, not a str")
        type_filter = tuple(types)
        if not all(isinstance(t, str) for t in type_filter):
            raise ArgumentTypeError("types must hold str type names")
    if prefix is not None and not isinstance(prefix, str):
        raise ArgumentTypeError("stream_prefix must be a str")
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise ArgumentTypeError(
            f"correlation_id must be a str, not {type(correlation_id).__name__}"
        )
    return after, type_filter, prefix or None, correlation_id


def encode_batch(
    codec: Codec,
    max_event_bytes: int,
    stream: object,
    events: object,
    expected_version: object,
    seen: set[int],
) -> AppendBatch:
    """Check and encode one stream's part of an append.

    ``seen`` collects the event ids (as ints) of the whole append, so that an
    id used twice in one append is refused. Raises before anything is written:
    InvalidStreamName, InvalidEventType, SerializationError,
    EventTooLargeError, DuplicateEventError, TypeError or ValueError.
    """
    name = validate_stream_name(stream)
    expected = check_expected_version(expected_version)
    if isinstance(events, NewEvent) or not isinstance(events, Sequence | Iterable):
        raise ArgumentTypeError("events must be a list of NewEvent")
    events = list(events)
    if not events:
        raise InvalidArgumentError(f"cannot append an empty list of events to {name!r}")
    encoded: list[EncodedEvent] = []
    ambient = current_metadata()  # stamped on every event; the event's own keys win
    for ev in events:
        if type(ev) is not NewEvent and not isinstance(ev, NewEvent):
            raise ArgumentTypeError(f"events must be NewEvent instances, got {type(ev).__name__}")
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
        encoded.append(
            EncodedEvent(
                ev.id,
                type_name,
                data,
                meta,
                schema,
                correlation if type(correlation) is str else None,
            )
        )
    return AppendBatch(name, encoded, expected)
