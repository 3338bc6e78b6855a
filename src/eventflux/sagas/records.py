"""How a saga instance is kept in the event store.

Each instance is one stream, ``saga-{Name}-{key}``; each reaction appends one
event to it, holding everything the reaction decided (the new state, the
commands it sent and messages it published, the pending deadlines and
compensations, whether it finished) and the input it reacted to. Loading an
instance folds its stream: the last event holds the current state, and every
event's input id is remembered, so an input handled before is recognised.

Each reaction appends at the version it reacted on, so of two processes
reacting to one input only one commits: the other's expected version is
stale, it reloads and finds the input handled. Ids of the commands and
messages a reaction sends are derived from (saga, key, input, position), so
sending them again after a crash repeats the same ids.

Example::

    stream = stream_name("Fulfilment", "o-1")     # "saga-Fulfilment-o-1"
    instance = fold("Fulfilment", "o-1", [e async for e in store.read(stream)])
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ..events import RecordedEvent
from ..exceptions import ConfigurationError

__all__ = [
    "ADMIN_CHANGED",
    "FINISHED",
    "REACTED",
    "SAGA_EVENT_TYPES",
    "STARTED",
    "Deadline",
    "Instance",
    "apply",
    "derived_id",
    "fold",
    "key_token",
    "parse_stream",
    "stream_name",
    "stream_prefix",
    "validate_saga_name",
]

STARTED: Final = "SagaStarted"
REACTED: Final = "SagaReacted"
FINISHED: Final = "SagaFinished"
#: Written by an administrator (a deadline cancelled or rescheduled from outside).
ADMIN_CHANGED: Final = "SagaDeadlinesChanged"
SAGA_EVENT_TYPES: Final = (STARTED, REACTED, FINISHED, ADMIN_CHANGED)

#: The namespace of every id derived for sagas (events, commands, messages).
_NAMESPACE: Final = uuid.UUID("7b0f5e1c-3a53-5d8e-9c4e-2f6f0d6a5a10")
_NAME: Final = re.compile(r"[A-Za-z0-9_]{1,100}")
_TOKEN_MAX: Final = 180


def validate_saga_name(name: object) -> str:
    """A saga name: 1 to 100 letters, digits and ``_`` (it names streams, a
    subject and a consumer group)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"a saga name is 1 to 100 letters, digits and '_', not {name!r}; "
            "set a 'name' class attribute"
        )
    return name


def key_token(key: str) -> str:
    """The form of an instance key used in stream names and as the bus key:
    the key itself when it is 1 to 180 printable characters not starting
    with ``~``, else ``~`` and a hash of it."""
    if 0 < len(key) <= _TOKEN_MAX and key.isprintable() and not key.startswith("~"):
        return key
    return "~" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def stream_prefix(saga: str) -> str:
    """The prefix of every instance stream of ``saga``."""
    return f"saga-{saga}-"


def stream_name(saga: str, key: str) -> str:
    """The stream of the instance ``key`` of ``saga``."""
    return stream_prefix(saga) + key_token(key)


def parse_stream(stream: str) -> tuple[str, str] | None:
    """``(saga, key token)`` of an instance stream name, or None."""
    if not stream.startswith("saga-"):
        return None
    saga, sep, token = stream[5:].partition("-")
    if not sep or not token or not _NAME.fullmatch(saga):
        return None
    return saga, token


def derived_id(*parts: object) -> uuid.UUID:
    """A UUID derived from ``parts`` (the same parts give the same id)."""
    return uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts))


@dataclass(frozen=True, slots=True)
class Deadline:
    """A pending deadline: when it is due, and the instance version that set it
    (so a deadline set again is a new one)."""

    due: datetime
    seq: int

    def as_dict(self) -> dict[str, Any]:
        return {"due": self.due.isoformat(), "seq": self.seq}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Deadline:
        return cls(datetime.fromisoformat(doc["due"]), int(doc["seq"]))


@dataclass(slots=True)
class Instance:
    """A saga instance as its stream says it is now."""

    saga: str
    key: str
    version: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    deadlines: dict[str, Deadline] = field(default_factory=dict)
    compensations: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    outcome: str | None = None
    correlation_id: str | None = None
    actor: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    #: input id -> the data of the event that recorded its reaction
    handled: dict[str, dict[str, Any]] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    #: input id -> the id of the event that recorded its reaction
    event_ids: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.version > 0

    @property
    def stream(self) -> str:
        return stream_name(self.saga, self.key)


def apply(instance: Instance, event: RecordedEvent) -> None:
    """Fold one saga event into ``instance``."""
    data = event.data
    if not isinstance(data, Mapping) or event.type not in SAGA_EVENT_TYPES:
        return
    instance.version = event.version
    instance.key = str(data.get("key", instance.key))
    instance.state = dict(data.get("state") or {})
    instance.deadlines = {
        name: Deadline.from_dict(d) for name, d in (data.get("deadlines") or {}).items()
    }
    instance.compensations = list(data.get("compensations") or [])
    instance.finished = bool(data.get("finished"))
    instance.outcome = data.get("outcome")
    instance.correlation_id = data.get("correlation_id") or instance.correlation_id
    instance.actor = data.get("actor") or instance.actor
    if instance.started_at is None:
        instance.started_at = event.recorded_at
    instance.updated_at = event.recorded_at
    source = data.get("input") or {}
    input_id = source.get("id")
    if input_id:
        instance.handled[str(input_id)] = dict(data)
        instance.event_ids[str(input_id)] = event.id
    instance.last = dict(data)


def fold(saga: str, key: str, events: Iterable[RecordedEvent]) -> Instance:
    """The instance that ``events`` (its stream, in order) describe."""
    instance = Instance(saga, key)
    for e in events:
        apply(instance, e)
    return instance
