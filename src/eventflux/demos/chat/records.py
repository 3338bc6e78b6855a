"""What the chat stores, and how stored events look on the wire.

A room's stream holds its timeline: ``RoomCreated`` (``room``, ``user``),
``MemberJoined`` / ``MemberLeft`` (``user``), ``MessagePosted`` (``user``,
``text``, ``cid``: the client's message id), ``MessageEdited`` (``user``,
``target``: the version of the message, ``text``, ``cid``) and
``MessageDeleted`` (``user``, ``target``, ``cid``). A conversation's stream
holds its messages, edits and deletes. Typing notices and presence are never
stored.

A sent message's event id is derived from its author, its room and its
client message id, so a resend after a lost acknowledgement appends nothing
and answers with the first one's position.

Example::

    event = NewEvent(POSTED, {"user": "ann", "text": "hi", "cid": "c1"},
                     id=message_id("ann", "general", "c1"))
    frame = event_frame("general", recorded)   # '{"type":"event","room":"general",...}'
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import orjson

from ...events import RecordedEvent

__all__ = [
    "CREATED",
    "DELETED",
    "EDITED",
    "JOINED",
    "LEFT",
    "MESSAGE_TYPES",
    "POSTED",
    "TIMELINE_TYPES",
    "dumps",
    "event_frame",
    "event_item",
    "message_id",
]

CREATED: Final = "RoomCreated"
JOINED: Final = "MemberJoined"
LEFT: Final = "MemberLeft"
POSTED: Final = "MessagePosted"
EDITED: Final = "MessageEdited"
DELETED: Final = "MessageDeleted"
MESSAGE_TYPES: Final = frozenset({POSTED, EDITED, DELETED})
TIMELINE_TYPES: Final = frozenset({CREATED, JOINED, LEFT, POSTED, EDITED, DELETED})
#: the namespace of the ids derived from client message ids
_IDS: Final = uuid.UUID("6f1d8a52-3c1e-4f7a-9d2b-6c1e0a4b7d10")


def message_id(user: str, room: str, cid: str, op: str = "send") -> uuid.UUID:
    """The event id of ``user``'s operation ``op`` with client message id ``cid``
    in ``room``: the same for every resend, so the store keeps one."""
    return uuid.uuid5(_IDS, f"{op}\x00{user}\x00{room}\x00{cid}")


def event_item(e: RecordedEvent) -> dict[str, Any]:
    """A stored event as a timeline item: ``version``, ``position``, ``id``,
    ``type``, ``at`` (ISO 8601 UTC) and the event's data (``user``, ``text``,
    ``target``, ``cid``...)."""
    item: dict[str, Any] = {
        "version": e.version,
        "position": e.position,
        "id": str(e.id),
        "type": e.type,
        "at": e.recorded_at.isoformat().replace("+00:00", "Z"),
    }
    data = e.data
    if isinstance(data, dict):
        for key in ("user", "text", "target", "cid", "room"):
            if key in data:
                item[key] = data[key]
    return item


def dumps(frame: dict[str, Any]) -> str:
    """A frame as JSON text."""
    return orjson.dumps(frame).decode()


def event_frame(room: str, e: RecordedEvent) -> str:
    """The frame of one timeline event (made once per event and server process,
    sent as it is to every connection that follows the room)."""
    return dumps({"type": "event", "room": room, "event": event_item(e)})
