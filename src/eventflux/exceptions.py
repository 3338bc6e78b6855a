"""Every error eventflux raises, in one tree.

Where a builtin exception fits, the eventflux error derives from it too, so
``except ValueError`` keeps working for code that does not know eventflux::

    EventfluxError
    ├── ConfigurationError (ValueError)        bad URL, unknown scheme, bad option
    │   ├── MissingExtraError (ImportError)    optional backend without its extra
    │   └── HandlerAlreadyRegisteredError      a second handler for one message type
    ├── InvalidArgumentError (ValueError)      a value out of range (ints beyond 64 bits...)
    ├── ArgumentTypeError (TypeError)          an argument of the wrong type
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
    │   ├── AppendTooLargeError (ValueError)   one append over the events or bytes cap
    │   ├── StoreClosedError                   operation on a closed store
    │   ├── StoreNotFoundError (LookupError)   no store where a command looked (it creates none)
    │   ├── StreamNotFoundError (LookupError)  a stream that does not exist was asked for
    │   └── StoreUnavailableError              database busy, unreachable, disk full
    │       └── StoreBusyError (TimeoutError)  lock not obtained within the busy timeout
    ├── BusError
    │   ├── InvalidSubject (ValueError)
    │   ├── InvalidGroupName (ValueError)
    │   ├── BusClosedError
    │   ├── NotABusError                       file holds something else than a bus
    │   ├── HandlerTimeoutError (TimeoutError) a handler ran past its handler_timeout
    │   ├── BusUnavailableError                bus storage busy or unreachable
    │   │   └── BusBusyError (TimeoutError)    lock not obtained within the busy timeout
    │   └── DeadLetterNotFoundError (LookupError)  no dead letter with that id
    ├── ReadModelError
    │   ├── ReadModelNotFoundError (LookupError)   no read model where one was expected
    │   ├── WrongStoreError                    a read model follows another event store
    │   ├── CheckpointAheadError               a checkpoint beyond the store's head
    │   └── UnsafeRebuildError                 a rebuild would empty a live model (force it)
    ├── CircuitOpenError                       a circuit breaker refused the call
    ├── AppNotRunningError (RuntimeError)      an App's store or bus used outside running()
    ├── AggregateError
    │   ├── AggregateNotFoundError (LookupError)   no such aggregate (at that time/version)
    │   ├── MissingApplyMethodError (TypeError)    an event class has no @apply method
    │   └── DomainError                        a command broke a business rule
    ├── SagaError                              a saga could not do what was asked
    │   ├── SagaNotFoundError (LookupError)    no instance of that saga with that key
    │   ├── DeadlineNotFoundError (LookupError)    no pending deadline by that name
    │   └── SagaKeyError (ValueError)          a key function gave no usable key
    └── CqrsError
        ├── NoHandlerError (LookupError)       no handler for the dispatched type
        ├── ValidationError (ValueError)       the validation middleware refused it
        ├── NotAuthorizedError (PermissionError)   the authorization middleware refused it
        ├── ProjectionError                    a projection handler failed on an event
        └── UnknownProjectionError (LookupError)   no projection by that name

``HandlerAlreadyRegisteredError`` is also a ``CqrsError``; the read-model
errors are also ``CqrsError``s.

Warnings: ``MaxListenersExceededWarning`` (a ``RuntimeWarning``).

Control-flow signals are not errors and live outside this tree, in
:mod:`eventflux.signals`: ``Reject`` (a handler dead-letters its message) and
``AlreadyHandled`` (the inbox saw the message before).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AggregateError",
    "AggregateNotFoundError",
    "AppNotRunningError",
    "AppendTooLargeError",
    "ArgumentTypeError",
    "BusBusyError",
    "BusClosedError",
    "BusError",
    "BusUnavailableError",
    "CheckpointAheadError",
    "CircuitOpenError",
    "ConcurrencyError",
    "ConfigurationError",
    "CqrsError",
    "DeadLetterNotFoundError",
    "DeadlineNotFoundError",
    "DeserializationError",
    "DomainError",
    "DuplicateEventError",
    "EventOverflowError",
    "EventTooLargeError",
    "EventfluxError",
    "HandlerAlreadyRegisteredError",
    "HandlerTimeoutError",
    "InvalidArgumentError",
    "InvalidEventType",
    "InvalidGroupName",
    "InvalidStreamName",
    "InvalidSubject",
    "MaxListenersExceededWarning",
    "MissingApplyMethodError",
    "MissingExtraError",
    "NoHandlerError",
    "NotABusError",
    "NotAnEventStoreError",
    "NotAuthorizedError",
    "ProjectionError",
    "ReadModelError",
    "ReadModelNotFoundError",
    "SagaError",
    "SagaKeyError",
    "SagaNotFoundError",
    "SerializationError",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "StreamDeletedError",
    "StreamNotFoundError",
    "UnhandledErrorEvent",
    "UnknownProjectionError",
    "UnsafeRebuildError",
    "ValidationError",
    "WrongStoreError",
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


class InvalidArgumentError(EventfluxError, ValueError):
    """An argument's value is outside what the call takes: a negative count, an
    int beyond the 64 bits every backend stores (0 to 2**63 - 1), an empty list."""


class ArgumentTypeError(EventfluxError, TypeError):
    """An argument has the wrong type: a str or a bool where an int belongs, a
    naive datetime where an aware one belongs..."""


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


class AppendTooLargeError(StoreError, ValueError):
    """One append holds more events, or more encoded bytes, than the store takes
    in one call (URL options ``max_append_events`` and ``max_append_bytes``)."""


class StoreClosedError(StoreError):
    """The store was closed."""


class StoreNotFoundError(StoreError, LookupError):
    """There is no event store where one was looked for (the command line never
    creates one by reading)."""


class StreamNotFoundError(StoreError, LookupError):
    """A stream that holds no events (or was deleted) was asked for by name."""


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


class BusBusyError(BusUnavailableError, TimeoutError):
    """A lock of the bus's storage was not obtained within the busy timeout."""


class NotABusError(BusError):
    """The bus's file exists but holds something else than an eventflux bus
    (another program's tables, or no SQLite database at all)."""


class HandlerTimeoutError(BusError, TimeoutError):
    """A message handler ran longer than its ``handler_timeout`` and was cancelled;
    the delivery counts as failed (retry, backoff, dead letter)."""


class DeadLetterNotFoundError(BusError, LookupError):
    """No dead letter has the given id (it was retried and handled, or purged)."""

    def __init__(self, letter_id: str) -> None:
        self.letter_id = letter_id
        super().__init__(f"no dead letter with id {letter_id!r}; list them with bus.dlq.list()")


class CqrsError(EventfluxError):
    """Root of the command, query, projection and read-model errors."""


class ReadModelError(CqrsError):
    """A read model cannot be used as asked."""


class ReadModelNotFoundError(ReadModelError, LookupError):
    """There is no read model where one was expected (reading never creates one)."""


class WrongStoreError(ReadModelError):
    """A read model was built from another event store than the one given: running,
    catching up or rebuilding it would mix two stores' positions."""


class CheckpointAheadError(ReadModelError):
    """A read model's checkpoint is beyond the head of its store: the store lost
    events (a restored backup?) or is not the one the model was built from."""


class UnsafeRebuildError(ReadModelError):
    """A rebuild would replace a live read model that holds rows with an empty one
    (its store has no events for it); pass ``force=True`` (``--force``) to do it."""


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


class AppNotRunningError(EventfluxError, RuntimeError):
    """An App's store or bus was used outside ``async with app.running()``."""


class AggregateError(EventfluxError):
    """Root of the aggregate and repository errors."""


class AggregateNotFoundError(AggregateError, LookupError):
    """The aggregate does not exist, or did not exist at the requested time or version.

    ``stream`` names the stream that was read; ``aggregate_id`` is the id asked for.
    """

    def __init__(self, aggregate_type: str, aggregate_id: str, stream: str, detail: str) -> None:
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.stream = stream
        super().__init__(f"{aggregate_type} {aggregate_id!r} not found: {detail}")


class MissingApplyMethodError(AggregateError, TypeError):
    """An event reached an aggregate that has no ``@apply`` method for its class."""


class DomainError(AggregateError):
    """A command was refused because it would break a business rule.

    Derive your domain's refusals from it, so callers can catch them apart from
    infrastructure failures::

        class InsufficientFunds(DomainError):
            pass
    """


class HandlerAlreadyRegisteredError(CqrsError, ConfigurationError):
    """A handler is already registered for this message type (one handler per type)."""


class NoHandlerError(CqrsError, LookupError):
    """A message was dispatched but no handler is registered for its type."""

    def __init__(self, kind: str, message_type: type[Any]) -> None:
        self.message_type = message_type
        super().__init__(
            f"no {kind} handler is registered for {message_type.__qualname__}; "
            f"register one with @bus.handler({message_type.__name__})"
        )


class ValidationError(CqrsError, ValueError):
    """A command or query is invalid; ``errors`` lists what is wrong."""

    def __init__(self, message: Any, errors: list[str]) -> None:
        self.message = message
        self.errors = errors
        super().__init__(f"invalid {type(message).__name__}: {'; '.join(errors)}")


class NotAuthorizedError(CqrsError, PermissionError):
    """The authorization middleware refused a command or query."""


class ProjectionError(CqrsError):
    """A projection handler raised; nothing of its batch was written.

    ``position`` and ``event_type`` name the event that failed.
    """

    def __init__(self, projection: str, position: int, event_type: str, cause: BaseException):
        self.projection = projection
        self.position = position
        self.event_type = event_type
        super().__init__(
            f"projection {projection!r} failed on event {event_type!r} at position "
            f"{position}: {type(cause).__name__}: {cause}"
        )


class UnknownProjectionError(CqrsError, LookupError):
    """No projection is registered under that name."""


# -- sagas --------------------------------------------------------------------------------
class SagaError(EventfluxError):
    """A saga could not do what was asked."""


class SagaNotFoundError(SagaError, LookupError):
    """There is no instance of the saga with that key."""

    def __init__(self, saga: str, key: str) -> None:
        self.saga = saga
        self.key = key
        super().__init__(
            f"saga {saga!r} has no instance with key {key!r}; "
            "list them with: eventflux sagas list --name " + saga
        )


class DeadlineNotFoundError(SagaError, LookupError):
    """The instance has no pending deadline by that name."""

    def __init__(self, saga: str, key: str, deadline: str) -> None:
        self.saga = saga
        self.key = key
        self.deadline = deadline
        super().__init__(
            f"saga {saga!r} instance {key!r} has no pending deadline {deadline!r}; "
            f"list them with: eventflux sagas deadlines --name {saga}"
        )


class SagaKeyError(SagaError, ValueError):
    """A ``key=`` function raised or returned something that is not a str."""
