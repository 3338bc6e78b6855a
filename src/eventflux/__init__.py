"""eventflux: event-driven architecture for Python, from one process to a cluster.

The public API is re-exported here; see the README and docs/ for guides.
"""

from __future__ import annotations

from .codec import Codec, default_codec, register_event
from .emitter import ERROR_MONITOR, AsyncEventEmitter, EventEmitter, on, once
from .events import AppendResult, NewEvent, RecordedEvent, caused_by, uuid7
from .exceptions import (
    BusClosedError,
    BusError,
    ConcurrencyError,
    ConfigurationError,
    DeserializationError,
    DuplicateEventError,
    EventfluxError,
    EventOverflowError,
    EventTooLargeError,
    InvalidEventType,
    InvalidGroupName,
    InvalidStreamName,
    InvalidSubject,
    MaxListenersExceededWarning,
    MissingExtraError,
    NotAnEventStoreError,
    Reject,
    SerializationError,
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    StreamDeletedError,
    UnhandledErrorEvent,
)
from .store import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    EventStore,
    ExpectedVersion,
    Snapshot,
    StreamLimits,
    open_store,
)

__version__ = "0.1.0"

__all__ = [
    "ANY",
    "AppendResult",
    "AsyncEventEmitter",
    "BusClosedError",
    "BusError",
    "Codec",
    "ConcurrencyError",
    "ConfigurationError",
    "DeserializationError",
    "DuplicateEventError",
    "ERROR_MONITOR",
    "EventEmitter",
    "EventOverflowError",
    "EventStore",
    "EventTooLargeError",
    "EventfluxError",
    "ExpectedVersion",
    "InvalidEventType",
    "InvalidGroupName",
    "InvalidStreamName",
    "InvalidSubject",
    "MaxListenersExceededWarning",
    "MissingExtraError",
    "NO_STREAM",
    "NewEvent",
    "NotAnEventStoreError",
    "RecordedEvent",
    "Reject",
    "STREAM_EXISTS",
    "SerializationError",
    "Snapshot",
    "StoreBusyError",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "StreamDeletedError",
    "StreamLimits",
    "UnhandledErrorEvent",
    "caused_by",
    "default_codec",
    "on",
    "once",
    "open_store",
    "register_event",
    "uuid7",
]
