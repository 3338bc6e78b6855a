"""What a chat client knows of its rooms, kept from the frames the server
sends: each room's events by version (counting any duplicate or gap, which
the server must never send), its members' presence, who types, and the
direct-message notices. :class:`~.client.ChatClient` keeps one.

Example::

    known = Timeline()
    known.apply({"type": "event", "room": "general",
                 "event": {"version": 1, "type": "MessagePosted", "text": "hi"}})
    known.messages("general")        # ["hi"]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Ack", "RoomView", "Timeline"]


@dataclass(frozen=True, slots=True)
class Ack:
    """A stored message: its room, client message id, event id, version in
    the room and global position."""

    cid: str
    room: str
    id: str
    version: int
    position: int

    @classmethod
    def of(cls, frame: dict[str, Any]) -> Ack:
        """The acknowledgement in an ``ack`` frame."""
        return cls(frame["cid"], frame["room"], frame["id"], frame["version"], frame["position"])


@dataclass
class RoomView:
    """What a client knows of one room."""

    last: int = 0
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    presence: dict[str, str] = field(default_factory=dict)
    typing: list[str] = field(default_factory=list)
    more: bool = False


class Timeline:
    """Rooms by name, from the frames applied in the order they arrived."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomView] = {}
        self.duplicates = 0
        self.gaps = 0
        self.presence_log: list[tuple[str, str, str]] = []
        self.notices: list[dict[str, Any]] = []

    def view(self, room: str) -> RoomView:
        """The room's view (made empty the first time)."""
        return self.rooms.setdefault(room, RoomView())

    def add(self, room: str, item: dict[str, Any]) -> None:
        """One timeline event: kept when it is the next version (an older one
        counts as a duplicate, a later one as a gap, and is kept)."""
        view = self.view(room)
        version = item["version"]
        if version <= view.last:
            self.duplicates += 1
            return
        if version != view.last + 1:
            self.gaps += 1
        view.last = version
        view.events[version] = item

    def apply(self, frame: dict[str, Any]) -> None:
        """Apply one frame from the server (the kinds that are not about rooms
        are left to the caller)."""
        kind = frame.get("type")
        room = str(frame.get("room"))
        if kind == "event":
            self.add(room, frame["event"])
        elif kind == "joined":
            view = self.view(room)
            for item in frame.get("events") or ():
                if item["version"] > view.last:
                    view.last = item["version"] - 1  # a fresh join: history, not a gap
                self.add(room, item)
            if "version" in frame:
                view.last = max(view.last, frame["version"])
                view.more = bool(frame.get("more"))
        elif kind == "history":
            view = self.view(room)
            for item in frame.get("events") or ():
                view.events.setdefault(item["version"], item)
            view.more = bool(frame.get("more"))
        elif kind == "presence":
            self.view(room).presence = dict(frame["members"])
        elif kind == "presence_diff":
            presence = self.view(room).presence
            for user, state in frame["joins"].items():
                presence[user] = state
                self.presence_log.append((room, user, state))
            for user in frame["leaves"]:
                presence.pop(user, None)
                self.presence_log.append((room, user, "offline"))
        elif kind == "typing":
            self.view(room).typing.append(frame["user"])
        elif kind == "dm_notice":
            self.notices.append(frame)

    def timeline(self, room: str) -> list[dict[str, Any]]:
        """The room's events held, oldest first."""
        view = self.rooms.get(room)
        return [view.events[v] for v in sorted(view.events)] if view else []

    def messages(self, room: str) -> list[str]:
        """The texts of the room's messages held, oldest first."""
        return [e["text"] for e in self.timeline(room) if e["type"] == "MessagePosted"]
