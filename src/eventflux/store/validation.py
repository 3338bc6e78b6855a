"""The event store's input rules, checked once by the facade before a backend
sees anything: stream names, event types, expected versions, counts, times and
filters (the encoding of appended events is in :mod:`.encoding`).

Example::

    validate_stream_name("account-42")          # returns it
    validate_stream_name("bad\\nname")          # raises InvalidStreamName
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from ..exceptions import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidEventType,
    InvalidStreamName,
)
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
