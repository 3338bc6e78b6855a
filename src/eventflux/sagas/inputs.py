"""What a saga reacts to (:class:`Input`), and the messages that carry inputs
to a saga's consumer group.

Every input of a saga reaches its reactions through the bus, on the saga's
own subject ``eventflux.saga.{Name}`` (group ``saga-{Name}``) keyed by the
instance, so the inputs of one instance are handled in order and the work of
many instances is shared by every process running the saga:

- ``event``: a store event of a routed type, relayed by the saga's feeder;
- ``deadline``: a deadline that fell due, published by the feeder;
- ``cancel``: an instance cancelled from outside.

Bus messages of ``@starts(subject=...)`` routes arrive on their own subjects
in the same group. Message ids are derived from the input, so a relay or a
deadline published twice is dropped by the bus's dedup.

Example::

    msg = deadline_message("Fulfilment", "o-1", "pay", Deadline(due, 3))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from ..bus import Message, OutgoingMessage
from ..events import CAUSATION_ID, CORRELATION_ID, RecordedEvent
from .records import Deadline, derived_id, key_token
from .routes import Route

__all__ = [
    "Input",
    "cancel_message",
    "deadline_message",
    "event_message",
    "recorded_event",
    "saga_group",
    "saga_subject",
]

EVENT: Final = "event"
MESSAGE: Final = "message"
DEADLINE: Final = "deadline"
CANCEL: Final = "cancel"


def saga_subject(saga: str) -> str:
    """The subject that carries the inputs of ``saga``."""
    return f"eventflux.saga.{saga}"


def saga_group(saga: str) -> str:
    """The consumer group of ``saga`` (shared by every process running it)."""
    return f"saga-{saga}"


@dataclass(frozen=True, slots=True)
class Input:
    """One thing an instance reacts to.

    ``id`` is unique per instance and the same on every delivery of the
    input (what makes a second delivery change nothing); ``at`` is when it
    happened (an event's ``recorded_at``, a message's ``published_at``, a
    deadline's due time); ``payload`` is the event or message given to the
    handler.
    """

    kind: str
    id: str
    key: str
    at: datetime
    name: str
    payload: Any = None
    route: Route | None = None
    seq: int = 0
    correlation_id: str | None = None
    actor: str | None = None
    outcome: str | None = None

    def describe(self) -> dict[str, Any]:
        """The input as a saga event records it."""
        doc: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "at": self.at.isoformat(),
        }
        if self.route is not None:
            doc["handler"] = self.route.method
        return doc


def _plain(data: Any) -> tuple[Any, bool]:
    if isinstance(data, Mapping):
        return data, False
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json"), True
    return msgspec.to_builtins(data), True


def event_message(
    saga: str, event: RecordedEvent, key: str | None, key_error: str | None = None
) -> OutgoingMessage:
    """The message relaying a store event to the saga's consumers."""
    data, registered = _plain(event.data)
    body: dict[str, Any] = {
        "k": EVENT,
        "key": key,
        "event": {
            "id": str(event.id),
            "stream": event.stream,
            "version": event.version,
            "position": event.position,
            "type": event.type,
            "data": data,
            "metadata": event.metadata,
            "recorded_at": event.recorded_at.isoformat(),
            "registered": registered,
        },
    }
    if key_error is not None:
        body["key_error"] = key_error
    correlation = event.metadata.get(CORRELATION_ID)
    headers = {
        CORRELATION_ID: str(event.id) if correlation is None else str(correlation),
        CAUSATION_ID: str(event.id),
    }
    actor = event.metadata.get("actor")
    if actor is not None:
        headers["actor"] = str(actor)
    return OutgoingMessage(
        saga_subject(saga),
        body,
        str(derived_id(saga, EVENT, event.id)),
        None if key is None else key_token(key),
        headers,
    )


def deadline_message(saga: str, key: str, name: str, deadline: Deadline) -> OutgoingMessage:
    """The message saying that the deadline ``name`` of instance ``key`` is due."""
    body = {
        "k": DEADLINE,
        "key": key,
        "name": name,
        "seq": deadline.seq,
        "due": deadline.due.isoformat(),
    }
    token = key_token(key)
    msg_id = str(derived_id(saga, token, DEADLINE, name, deadline.seq))
    return OutgoingMessage(saga_subject(saga), body, msg_id, token)


def cancel_message(
    saga: str, key: str, reason: str, outcome: str, request_id: str
) -> OutgoingMessage:
    """The message asking to cancel instance ``key`` (compensations run)."""
    body = {"k": CANCEL, "key": key, "reason": reason, "outcome": outcome}
    token = key_token(key)
    return OutgoingMessage(saga_subject(saga), body, request_id, token)


def recorded_event(doc: Mapping[str, Any]) -> RecordedEvent:
    """The :class:`RecordedEvent` a relayed event's message carries."""
    return RecordedEvent(
        id=UUID(doc["id"]),
        stream=doc["stream"],
        version=int(doc["version"]),
        position=int(doc["position"]),
        type=doc["type"],
        data=doc["data"],
        metadata=dict(doc.get("metadata") or {}),
        recorded_at=datetime.fromisoformat(doc["recorded_at"]),
    )


def message_correlation(msg: Message) -> str:
    """The correlation id a message continues (its header, else its id)."""
    return msg.headers.get(CORRELATION_ID) or msg.msg_id
