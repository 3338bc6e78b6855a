"""Every error eventflux raises, in one tree.

Where a builtin exception fits, the eventflux error derives from it too, so
``except ValueError`` keeps working for code that does not know eventflux::

    EventfluxError
    ├── ConfigurationError (ValueError)        bad URL, unknown scheme, bad option
    │   └── MissingExtraError (ImportError)    optional backend without its extra
    ├── SerializationError (TypeError)         data that cannot be encoded as JSON
    ├── DeserializationError (ValueError)      stored bytes that cannot be decoded
    ├── UnhandledErrorEvent                    "error" emitted with no listener
    ├── EventOverflowError                     eventflux.on() buffer overflowed
    ├── StoreError
    │   ├── ConcurrencyError                   expected version did not match
    │   ├── DuplicateEventError                event id already used another way
    │   ├── InvalidStreamName (ValueError)     empty, too long, control characters
    │   ├── InvalidEventType (ValueError)      same rules, for event type names
    │   ├── EventTooLargeError (ValueError)    encoded event over the size limit
    │   ├── StreamDeletedError                 append to a hard-deleted stream
    │   ├── NotAnEventStoreError               file holds no eventflux schema
    │   ├── StoreClosedError                   operation on a closed store
    │   └── StoreUnavailableError              database busy or unreachable
    │       └── StoreBusyError (TimeoutError)  lock not obtained within the busy timeout
    ├── BusError
    │   ├── InvalidSubject (ValueError)
    │   ├── InvalidGroupName (ValueError)
    │   ├── BusClosedError
    │   ├── BusUnavailableError                bus storage busy or unreachable
    │   ├── DeadLetterNotFound (LookupError)   no dead letter with that id
    │   ├── AlreadyHandled                     the inbox saw this message before
    │   └── Reject                             raised by a handler: dead-letter now
    └── CircuitOpenError                       a circuit breaker refused the call

Warnings: ``MaxListenersExceededWarning`` (a ``RuntimeWarning``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyHandled",
    "BusClosedError",
    "BusError",
    "BusUnavailableError",
    "CircuitOpenError",
    "ConcurrencyError",
    "ConfigurationError",
    "DeadLetterNotFound",
    "DeserializationError",
    "DuplicateEventError",
    "EventOverflowError",
    "EventTooLargeError",
    "EventfluxError",
    "InvalidEventType",
    "InvalidGroupName",
    "InvalidStreamName",
    "InvalidSubject",
    "MaxListenersExceededWarning",
    "MissingExtraError",
    "NotAnEventStoreError",
    "Reject",
    "SerializationError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "StreamDeletedError",
    "UnhandledErrorEvent",
]


class EventfluxError(Exception):
    """Root of every error eventflux raises."""


class ConfigurationError(EventfluxError, ValueError):
    """A URL, option or setting is not valid."""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional backend was asked for but its extra is not installed."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature = feature
        self.extra = extra
        self.module = module
        super().__init__(
            f"{feature} needs the optional dependency {module!r}; "
            f"install it with: pip install 'eventflux[{extra}]'"
        )


class SerializationError(EventfluxError, TypeError):
    """Data could not be encoded as JSON (wrong type, NaN, non-str key...)."""


class DeserializationError(EventfluxError, ValueError):
    """Stored bytes could not be decoded into an event."""


class UnhandledErrorEvent(EventfluxError):
    """An ``"error"`` event was emitted with a non-exception value and no listener.

    The emitted value is kept in :attr:`value`.
    """

    def __init__(self, value: Any) -> None:
        self.value = value
        super().__init__(f"unhandled 'error' event: {value!r}")


class EventOverflowError(EventfluxError):
    """The buffer of an :func:`eventflux.on` iterator overflowed (slow consumer)."""


class MaxListenersExceededWarning(RuntimeWarning):
    """More listeners were added to one event than ``get_max_listeners()`` allows."""


class StoreError(EventfluxError):
    """An event store operation failed."""


class ConcurrencyError(StoreError):
    """The stream's version was not what the caller expected; nothing was written."""

    def __init__(self, stream: str, expected: object, actual: int) -> None:
        self.stream = stream
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {stream!r} is at version {actual}, but {expected!r} was expected; "
            "reload the stream and retry the command"
        )


class DuplicateEventError(StoreError):
    """An event id is already stored (or repeated) in a way that is not a retry."""

    def __init__(self, event_id: object, detail: str) -> None:
        self.event_id = event_id
        super().__init__(f"event id {event_id} {detail}")


class InvalidStreamName(StoreError, ValueError):
    """A stream name is empty, longer than 255 code points or has control characters."""


class InvalidEventType(StoreError, ValueError):
    """An event type name is empty, longer than 255 code points or has control characters."""


class EventTooLargeError(StoreError, ValueError):
    """An encoded event (data plus metadata) is larger than the store's limit."""


class StreamDeletedError(StoreError):
    """The stream was hard-deleted; it cannot be appended to again."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        super().__init__(f"stream {stream!r} was hard-deleted and cannot be written again")


class NotAnEventStoreError(StoreError):
    """The database exists but does not hold an eventflux event store."""


class StoreClosedError(StoreError):
    """The store was closed."""


class StoreUnavailableError(StoreError):
    """The database could not be reached or used."""


class StoreBusyError(StoreUnavailableError, TimeoutError):
    """A database lock was not obtained within the busy timeout."""


class BusError(EventfluxError):
    """A message bus operation failed."""


class InvalidSubject(BusError, ValueError):
    """A subject is empty, has empty or non-printable tokens, or misplaces wildcards."""


class InvalidGroupName(BusError, ValueError):
    """A consumer group name does not match ``[A-Za-z0-9_-]+``."""


class BusClosedError(BusError):
    """The bus was closed."""


class BusUnavailableError(BusError):
    """The bus's storage could not be reached or stayed locked too long."""


class DeadLetterNotFound(BusError, LookupError):
    """No dead letter has the given id (it was retried and handled, or purged)."""

    def __init__(self, letter_id: str) -> None:
        self.letter_id = letter_id
        super().__init__(f"no dead letter with id {letter_id!r}; list them with bus.dlq.list()")


class AlreadyHandled(BusError):
    """The inbox recorded this message as handled by this group already.

    Raised by ``Inbox.transaction``; a bus handler lets it propagate and the bus
    acknowledges the message.
    """

    def __init__(self, group: str, msg_id: str) -> None:
        self.group = group
        self.msg_id = msg_id
        super().__init__(f"message {msg_id!r} was already handled by group {group!r}")


class CircuitOpenError(EventfluxError):
    """A circuit breaker is open (or half-open and busy) and refused the call.

    ``retry_after`` is the number of seconds until it lets a trial call through.
    A bus handler raising it gets its message redelivered later without
    spending a delivery attempt.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        self.name = name
        self.retry_after = retry_after
        super().__init__(
            f"circuit {name!r} is open; calls are refused for another {retry_after:.3g} s"
        )


class Reject(BusError):
    """Raise from a bus handler to send the message to the dead-letter queue at once."""

    def __init__(self, reason: str = "rejected") -> None:
        self.reason = reason
        super().__init__(reason)
