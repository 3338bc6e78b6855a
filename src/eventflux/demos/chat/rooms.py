"""The rooms read model: rooms with their members and message counts, and
each user's direct conversations, kept by the ``chat-rooms`` projection from
the rooms' streams (portable SQL: a SQLite file or a PostgreSQL schema).

Example::

    rows = await list_rooms(app.read_model)     # [{"room": "general", "members": 3, ...}]
    await is_member(app.read_model, "general", "ann")
"""

from __future__ import annotations

from typing import Any

from ...cqrs import Projection, ReadModel, Transaction, handles
from ...events import RecordedEvent
from .names import DM_PREFIX, ROOM_PREFIX, room_of
from .records import CREATED, JOINED, LEFT, POSTED

__all__ = ["RoomsView", "conversations", "is_member", "list_rooms", "members_of"]


def _at(e: RecordedEvent) -> str:
    return e.recorded_at.isoformat()


class RoomsView(Projection):
    """Rooms, members and conversations, for the room list and membership checks."""

    name = "chat-rooms"

    def create_schema(self, tx: Transaction) -> None:
        tx.execute(
            "CREATE TABLE chat_rooms (room TEXT PRIMARY KEY, created_by TEXT NOT NULL, "
            "created_at TEXT NOT NULL, members INTEGER NOT NULL, messages INTEGER NOT NULL, "
            "last_at TEXT NOT NULL)"
        )
        tx.execute(
            "CREATE TABLE chat_members (room TEXT NOT NULL, member TEXT NOT NULL, "
            "joined_at TEXT NOT NULL, PRIMARY KEY (room, member))"
        )
        tx.execute(
            "CREATE TABLE chat_dms (room TEXT NOT NULL, member TEXT NOT NULL, "
            "other TEXT NOT NULL, messages INTEGER NOT NULL, last_at TEXT NOT NULL, "
            "PRIMARY KEY (room, member))"
        )

    @handles(CREATED)
    def created(self, event: dict[str, Any], tx: Transaction, e: RecordedEvent) -> None:
        if not e.stream.startswith(ROOM_PREFIX):
            return
        tx.execute(
            "INSERT INTO chat_rooms VALUES (:room, :user, :at, 0, 0, :at) "
            "ON CONFLICT (room) DO NOTHING",
            {"room": room_of(e.stream), "user": event.get("user", ""), "at": _at(e)},
        )

    def _count(self, tx: Transaction, room: str | None) -> None:
        tx.execute(
            "UPDATE chat_rooms SET members = "
            "(SELECT COUNT(*) FROM chat_members WHERE chat_members.room = :room) "
            "WHERE room = :room",
            {"room": room},
        )

    @handles(JOINED)
    def joined(self, event: dict[str, Any], tx: Transaction, e: RecordedEvent) -> None:
        if not e.stream.startswith(ROOM_PREFIX):
            return
        room = room_of(e.stream)
        tx.execute(
            "INSERT INTO chat_members VALUES (:room, :user, :at) "
            "ON CONFLICT (room, member) DO NOTHING",
            {"room": room, "user": event.get("user", ""), "at": _at(e)},
        )
        self._count(tx, room)

    @handles(LEFT)
    def left(self, event: dict[str, Any], tx: Transaction, e: RecordedEvent) -> None:
        if not e.stream.startswith(ROOM_PREFIX):
            return
        room = room_of(e.stream)
        tx.execute(
            "DELETE FROM chat_members WHERE room = :room AND member = :user",
            {"room": room, "user": event.get("user", "")},
        )
        self._count(tx, room)

    @handles(POSTED)
    def posted(self, event: dict[str, Any], tx: Transaction, e: RecordedEvent) -> None:
        room = room_of(e.stream)
        if e.stream.startswith(ROOM_PREFIX):
            tx.execute(
                "UPDATE chat_rooms SET messages = messages + 1, last_at = :at WHERE room = :room",
                {"room": room, "at": _at(e)},
            )
        elif e.stream.startswith(DM_PREFIX) and room is not None:
            _, a, b = room.split(":")
            for member, other in ((a, b), (b, a)):
                tx.execute(
                    "INSERT INTO chat_dms VALUES (:room, :member, :other, 1, :at) "
                    "ON CONFLICT (room, member) DO UPDATE SET "
                    "messages = chat_dms.messages + 1, last_at = :at",
                    {"room": room, "member": member, "other": other, "at": _at(e)},
                )


async def list_rooms(model: ReadModel) -> list[dict[str, Any]]:
    """Every room: ``room``, ``members``, ``messages``, ``created_by``, ``last_at``."""
    rows = await model.fetch_all(
        "SELECT room, members, messages, created_by, last_at FROM chat_rooms ORDER BY room"
    )
    return [dict(r) for r in rows]


async def members_of(model: ReadModel, room: str) -> list[str]:
    """The members of ``room``, by name."""
    rows = await model.fetch_all(
        "SELECT member FROM chat_members WHERE room = :room ORDER BY member", {"room": room}
    )
    return [r["member"] for r in rows]


async def is_member(model: ReadModel, room: str, user: str) -> bool:
    """Whether ``user`` is a member of ``room`` (as far as the read model has seen)."""
    found = await model.fetch_value(
        "SELECT 1 FROM chat_members WHERE room = :room AND member = :user",
        {"room": room, "user": user},
    )
    return found is not None


async def conversations(model: ReadModel, user: str) -> list[dict[str, Any]]:
    """``user``'s direct conversations: ``room``, ``with``, ``messages``, ``last_at``."""
    rows = await model.fetch_all(
        "SELECT room, other, messages, last_at FROM chat_dms WHERE member = :user "
        "ORDER BY last_at DESC",
        {"user": user},
    )
    return [
        {"room": r["room"], "with": r["other"], "messages": r["messages"], "last_at": r["last_at"]}
        for r in rows
    ]
