"""Event envelopes: what callers append (``NewEvent``) and what stores return.

Ids are time-ordered UUIDv7 values, so they sort roughly by creation time and
index well. Metadata is a plain JSON mapping; ``correlation_id`` and
``causation_id`` are the two keys eventflux itself understands.

Example::

    e = NewEvent("Deposited", {"amount": 100}, metadata={"user": "ann"})
    follow_up = NewEvent("Audited", {}, metadata=caused_by(recorded))
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID, SafeUUID

import msgspec

__all__ = [
    "AppendResult",
    "CAUSATION_ID",
    "CORRELATION_ID",
    "NewEvent",
    "RecordedEvent",
    "caused_by",
    "uuid7",
]

CORRELATION_ID: Final = "correlation_id"
CAUSATION_ID: Final = "causation_id"

_uuid7_lock = threading.Lock()
_uuid7_last_ms = 0
_uuid7_counter = 0
# The low 32 bits only tell processes apart (the counter orders ids within one),
# so a PRNG seeded from the OS is enough; it saves a system call per id.
_uuid7_random = random.Random(os.urandom(16))
_UUID7_FIXED_BITS: Final = 0x7 << 76 | 0b10 << 62  # the version and the variant


def _reseed_after_fork() -> None:
    global _uuid7_last_ms
    _uuid7_random.seed(os.urandom(16))
    _uuid7_last_ms = 0  # the next id draws a fresh counter seed from the OS


os.register_at_fork(after_in_child=_reseed_after_fork)


def uuid7() -> UUID:
    """Return a new RFC 9562 version 7 UUID (millisecond time, then random bits).

    Ids made in one process are strictly increasing: within one millisecond a
    42-bit counter, seeded at random, orders them.
    """
    global _uuid7_last_ms, _uuid7_counter
    with _uuid7_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _uuid7_last_ms:
            _uuid7_last_ms = ms
            _uuid7_counter = _uuid7_random.getrandbits(41)  # 41 bits: room to count
        else:
            ms = _uuid7_last_ms
            _uuid7_counter += 1
            if _uuid7_counter >= 1 << 42:  # counter overflow: borrow the next millisecond
                _uuid7_last_ms = ms = ms + 1
                _uuid7_counter = 0
        counter = _uuid7_counter
        rand = _uuid7_random.getrandbits(32)
    # 48 bits time | 4 bits version | 12 bits counter(high) | 2 bits variant | 30 bits
    # counter(low) | 32 bits random
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | ((counter >> 30) & 0xFFF) << 64
        | (counter & 0x3FFF_FFFF) << 32
        | rand
        | _UUID7_FIXED_BITS
    )
    # The constructor's argument checks cost more than the rest of this function;
    # the value is a valid 128-bit int by construction.
    uid = _new_object(UUID)
    _set_uuid_int(uid, value)
    _set_uuid_safe(uid, _SAFE_UNKNOWN)
    return uid


_new_object = object.__new__
_set_uuid_int = UUID.__dict__["int"].__set__
_set_uuid_safe = UUID.__dict__["is_safe"].__set__
_SAFE_UNKNOWN: Final = SafeUUID.unknown


class NewEvent(msgspec.Struct, frozen=True):
    """An event to append: a type name, its data, optional metadata and id.

    ``data`` is a JSON-compatible mapping with str keys, or an instance of an
    event class registered with the store's codec. ``id`` defaults to a fresh
    :func:`uuid7`; pass your own id to make a retry of the append idempotent.

    Example::

        NewEvent("Deposited", {"amount": 100}, metadata={"correlation_id": "req-1"})
    """

    type: str
    data: Any
    metadata: Mapping[str, Any] | None = None
    id: UUID = msgspec.field(default_factory=uuid7)

    def __post_init__(self) -> None:
        if cast(object, self.id) is None:  # explicit id=None means "generate one"
            msgspec.structs.force_setattr(self, "id", uuid7())
        elif not isinstance(self.id, UUID):
            raise TypeError(f"NewEvent.id must be a uuid.UUID, not {type(self.id).__name__}")
        if not isinstance(self.type, str) or not self.type:
            raise ValueError("NewEvent.type must be a non-empty str")

    @property
    def correlation_id(self) -> str | None:
        """The correlation id carried in the metadata, if any."""
        return None if self.metadata is None else self.metadata.get(CORRELATION_ID)

    @property
    def causation_id(self) -> str | None:
        """The causation id carried in the metadata, if any."""
        return None if self.metadata is None else self.metadata.get(CAUSATION_ID)


class RecordedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event as the store holds it.

    ``version`` is the event's 1-based place in its stream; ``position`` its
    place in the store's global order (strictly increasing in the order readers
    see events, possibly with holes); ``recorded_at`` the aware UTC time of the
    commit. ``data`` is a dict, or an instance of the registered event class.
    """

    id: UUID
    stream: str
    version: int
    position: int
    type: str
    data: Any
    metadata: dict[str, Any]
    recorded_at: datetime

    @property
    def correlation_id(self) -> str | None:
        """The correlation id of this event (its own id when none was given)."""
        value = self.metadata.get(CORRELATION_ID)
        return str(self.id) if value is None else str(value)

    @property
    def causation_id(self) -> str | None:
        """The id of the event or message that caused this one, if recorded."""
        value = self.metadata.get(CAUSATION_ID)
        return None if value is None else str(value)


def caused_by(event: RecordedEvent, **extra: Any) -> dict[str, Any]:
    """Metadata for an event caused by ``event``: same correlation, causation = its id.

    Example::

        NewEvent("Receipted", {...}, metadata=caused_by(deposited, user="ann"))
    """
    return {CORRELATION_ID: event.correlation_id, CAUSATION_ID: str(event.id), **extra}


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The outcome of an append: versions of the first and last event, and the
    global position of the last one."""

    first_version: int
    last_version: int
    position: int
