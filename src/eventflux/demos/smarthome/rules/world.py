"""What the engine knows of the home: each device's state, as the event store tells it.

Device messages (``home.<room>.<device>.<event>``) are recorded in the event
store, one stream per device (``home-<room>.<device>``), as events of type
``home.<event>`` whose data holds the subject, the entity id, the device kind,
its ``state`` and ``attributes`` (when the message carries them) and the
device's time ``at``. :class:`Reading` is one such event as the engine reads
it; :class:`World` folds them into :class:`Entity` states.

Example::

    reading = Reading.of(recorded_event)       # None for events of other streams
    old = world.apply(reading)                 # the entity before, a copy
    world.entities["hall.light"].state         # "on"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from ....events import CORRELATION_ID, RecordedEvent

__all__ = [
    "DEVICE_PREFIX",
    "OFFLINE",
    "ONLINE",
    "Entity",
    "Reading",
    "World",
    "device_stream",
    "parse_time",
]

#: the stream prefix of the device streams
DEVICE_PREFIX: Final = "home-"
OFFLINE: Final = "offline"
ONLINE: Final = "online"
_MISSING: Final[Any] = object()


def device_stream(entity_id: str) -> str:
    """The stream of a device's events: ``home-<room>.<device>``."""
    return f"{DEVICE_PREFIX}{entity_id}"


def parse_time(text: Any, default: datetime) -> datetime:
    """An ISO 8601 time from event data, else ``default``."""
    if isinstance(text, str):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return default
        return parsed if parsed.tzinfo is not None else default
    return default


@dataclass(frozen=True, slots=True)
class Reading:
    """One recorded device event, as the engine reads it."""

    position: int
    event_id: str
    correlation_id: str
    subject: str
    entity_id: str | None
    event: str
    kind: str
    state: Any
    attributes: Mapping[str, Any] | None
    at: datetime
    data: Mapping[str, Any]

    @property
    def has_state(self) -> bool:
        return self.state is not _MISSING

    @classmethod
    def of(cls, e: RecordedEvent) -> Reading | None:
        """The reading an event of a device stream holds (None for other events)."""
        if not e.stream.startswith(DEVICE_PREFIX) or not isinstance(e.data, Mapping):
            return None
        data = e.data
        subject = str(data.get("subject") or "")
        attributes = data.get("attributes")
        return cls(
            position=e.position,
            event_id=str(e.id),
            correlation_id=str(e.metadata.get(CORRELATION_ID) or e.id),
            subject=subject,
            entity_id=data.get("entity_id"),
            event=e.type.removeprefix("home."),
            kind=str(data.get("kind") or ""),
            state=data.get("state", _MISSING),
            attributes=attributes if isinstance(attributes, Mapping) else None,
            at=parse_time(data.get("at"), e.recorded_at),
            data=data,
        )


@dataclass(slots=True)
class Entity:
    """A device's state as the engine last saw it."""

    entity_id: str
    kind: str = ""
    state: Any = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    online: bool = True
    last_seen: datetime | None = None
    last_changed: datetime | None = None
    last_event_id: str = ""
    position: int = 0

    def value(self, attribute: str | None) -> Any:
        """The state, or one attribute (None when it has none)."""
        return self.state if attribute is None else self.attributes.get(attribute)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "kind": self.kind,
            "state": self.state,
            "attributes": dict(self.attributes),
            "online": self.online,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "last_changed": self.last_changed.isoformat() if self.last_changed else None,
            "last_event_id": self.last_event_id,
            "position": self.position,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        def when(key: str) -> datetime | None:
            value = data.get(key)
            return datetime.fromisoformat(value) if isinstance(value, str) else None

        return cls(
            entity_id=str(data["entity_id"]),
            kind=str(data.get("kind") or ""),
            state=data.get("state"),
            attributes=dict(data.get("attributes") or {}),
            online=bool(data.get("online", True)),
            last_seen=when("last_seen"),
            last_changed=when("last_changed"),
            last_event_id=str(data.get("last_event_id") or ""),
            position=int(data.get("position") or 0),
        )


class World:
    """Every device's :class:`Entity`, kept from readings in position order."""

    def __init__(self) -> None:
        self.entities: dict[str, Entity] = {}
        self.position = 0

    def get(self, entity_id: str) -> Entity | None:
        return self.entities.get(entity_id)

    def apply(self, reading: Reading) -> Entity | None:
        """Fold ``reading`` in; return a copy of the entity as it was before
        (None if it was not known yet, or for a reading of no device)."""
        self.position = max(self.position, reading.position)
        entity_id = reading.entity_id
        if entity_id is None:
            return None
        entity = self.entities.get(entity_id)
        before = None if entity is None else replace(entity)
        if entity is None:
            entity = self.entities[entity_id] = Entity(entity_id)
        if reading.kind:
            entity.kind = reading.kind
        entity.position = reading.position
        if reading.event == OFFLINE:
            entity.online = False
            return before
        if reading.event == ONLINE:
            entity.online = True
            return before
        entity.last_seen = reading.at
        entity.last_event_id = reading.event_id
        if reading.has_state and reading.state != entity.state:
            entity.state = reading.state
            entity.last_changed = reading.at
        elif entity.last_changed is None:
            entity.last_changed = reading.at
        if reading.attributes is not None:
            merged = {**entity.attributes, **reading.attributes}
            if merged != entity.attributes:
                entity.attributes = merged
        return before
