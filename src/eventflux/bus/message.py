"""What handlers receive (:class:`Message`), what the dead-letter queue holds
(:class:`DeadLetter`), and what :meth:`MessageBus.publish_many` takes
(:class:`OutgoingMessage`). The values passed between the facade and a backend
are in :mod:`eventflux.bus.backend`.

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
    "GroupInfo",
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


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """One consumer group (by name) as :meth:`MessageBus.groups` sees it now.

    ``patterns`` are the subject patterns it subscribes to (each pattern is a
    queue of its own). ``members`` counts its live members, in every process
    the backend can see (``None`` when the backend cannot tell); ``pending``
    the messages waiting to be handled (ready, waiting for a redelivery, or
    behind an older message of their key); ``in_flight`` those leased to a
    member now; ``dead_letters`` its dead letters; ``oldest_pending_age`` the
    age in seconds of the oldest message it has not handled yet, pending or in
    flight (``None`` when there is none).

    Example::

        for g in await bus.groups():
            print(g.name, g.members, g.pending, g.in_flight, g.oldest_pending_age)
    """

    name: str
    patterns: tuple[str, ...]
    members: int | None
    pending: int
    in_flight: int
    dead_letters: int
    oldest_pending_age: float | None
