"""What handlers receive (:class:`Message`), what the dead-letter queue holds
(:class:`DeadLetter`), and the envelopes passed between the port and a backend.

Example::

    @bus.subscribe("orders.created", group="payments")
    async def charge(msg: Message) -> None:
        print(msg.subject, msg.data["id"], msg.attempt, msg.published_at)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from .._internal.ids import new_msg_id

__all__ = [
    "NO_HEADERS",
    "DeadLetter",
    "Delivery",
    "Envelope",
    "Message",
    "OutgoingMessage",
    "new_msg_id",
]

#: The headers of a message published without any (shared, read-only).
NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery of a published message to a handler.

    ``data`` is a fresh decoded copy for this delivery; ``msg_id`` is the id
    given to ``publish`` (or generated); ``key`` orders messages within a
    group; ``attempt`` is 1 on the first delivery; ``published_at`` is an
    aware UTC datetime; ``group`` names the consumer group receiving it.
    """

    subject: str
    data: Any
    msg_id: str
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1
    published_at: datetime = field(default_factory=_now)
    group: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that a group gave up on.

    ``error`` is ``"ExcType: message"`` of the last failure, or the reason of a
    :class:`~eventflux.Reject`; ``deliveries`` counts the deliveries made;
    ``data`` is the decoded payload (the raw bytes when they cannot be
    decoded); ``dead_at`` is an aware UTC datetime.
    """

    id: str
    group: str
    subject: str
    data: Any
    msg_id: str
    key: str | None
    error: str
    deliveries: int
    dead_at: datetime


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message of a :meth:`MessageBus.publish_many` batch.

    Example::

        await bus.publish_many([OutgoingMessage("orders.created", {"id": i}) for i in range(100)])
    """

    subject: str
    data: Any
    msg_id: str | None = None
    key: str | None = None
    headers: Mapping[str, str] | None = None


@dataclass(slots=True)
class Envelope:
    """A validated, encoded message on its way to a backend's ``_publish`` hook.

    ``explicit_id`` is True when the caller gave ``msg_id`` (only those take
    part in dedup; generated ids are unique anyway). ``published_at`` is Unix
    time in seconds.
    """

    subject: str
    data: bytes
    msg_id: str
    key: str | None
    headers: Mapping[str, str]
    published_at: float
    explicit_id: bool


@dataclass(slots=True, eq=False)
class Delivery:
    """One fetched (leased) message, as a backend's ``_fetch`` hook returns it.

    ``attempt`` counts this delivery (1 = first). ``headers`` is a mapping or
    its JSON encoding. ``ref`` is the backend's own handle (lease token,
    native message...) that the settle hooks receive back; the port never
    looks inside it.
    """

    subject: str
    data: bytes
    msg_id: str
    key: str | None
    headers: Mapping[str, str] | bytes
    attempt: int
    published_at: float
    ref: Any = None
