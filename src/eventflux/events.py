"""Event envelopes: what callers append (``NewEvent``) and what stores return.

Ids are time-ordered UUIDv7 values, so they sort roughly by creation time and
index well. Metadata is a plain JSON mapping; ``correlation_id`` and
``causation_id`` are the two keys eventflux itself understands.

Example::

    e = NewEvent("Deposited", {"amount": 100}, metadata={"user": "ann"})
    follow_up = NewEvent("Audited", {}, metadata=caused_by(recorded))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast
from uuid import UUID

import msgspec

from ._internal.ids import uuid7
from .exceptions import ArgumentTypeError, InvalidEventType

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


class NewEvent(msgspec.Struct, frozen=True):
    """An event to append: a type name, its data, optional metadata and id.

    ``data`` is a JSON-compatible mapping with str keys, or an instance of an
    event class registered with the store's codec. ``id`` defaults to a fresh
    :func:`uuid7`; pass your own id to make a retry of the append idempotent.
    An empty or non-str ``type`` raises :class:`~eventflux.InvalidEventType`
    (a ``ValueError``), an ``id`` that is not a UUID
    :class:`~eventflux.ArgumentTypeError` (a ``TypeError``).

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
            raise ArgumentTypeError(
                f"NewEvent.id must be a uuid.UUID, not {type(self.id).__name__}"
            )
        if not isinstance(self.type, str) or not self.type:
            raise InvalidEventType(f"NewEvent.type must be a non-empty str, not {self.type!r}")

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
    global position of the last one.

    ``retried`` is True when the append was a retry of a batch already stored
    (same ids, same stream, same order): nothing was written and the versions
    and position are the original ones. It takes no part in comparisons, so a
    retry's result equals the original result.

    Example::

        first = await store.append("account-3", batch)
        again = await store.append("account-3", batch)
        assert again == first and again.retried and not first.retried
    """

    first_version: int
    last_version: int
    position: int
    retried: bool = field(default=False, compare=False)
