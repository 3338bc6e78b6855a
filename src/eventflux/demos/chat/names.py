"""Names in the chat: users, rooms, direct-message conversations, and the
streams they live in; and what a message's text may hold.

A user or room name is 1 to 32 characters: lowercase letters, digits, ``-``
and ``_``, starting with a letter or digit. A room ``general`` lives in the
stream ``chat-room-general``; the direct messages of ``ann`` and ``bob`` are
the conversation ``dm:ann:bob`` (names sorted) in ``chat-dm-ann:bob``.

Example::

    check_user("ann")                 # "ann"
    stream_of("general")              # "chat-room-general"
    dm_room("bob", "ann")             # "dm:ann:bob"
    stream_of("dm:ann:bob")           # "chat-dm-ann:bob"
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from ...exceptions import EventfluxError

__all__ = [
    "DM_PREFIX",
    "ROOM_PREFIX",
    "STREAM_PREFIX",
    "ChatError",
    "check_room",
    "check_text",
    "check_user",
    "dm_room",
    "is_dm",
    "participants",
    "room_of",
    "stream_of",
]

#: every chat stream starts with it (what a server process follows)
STREAM_PREFIX: Final = "chat-"
ROOM_PREFIX: Final = "chat-room-"
DM_PREFIX: Final = "chat-dm-"
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: characters a message may hold besides printable ones
_ALLOWED_CONTROLS: Final = frozenset("\n\t")


class ChatError(EventfluxError, ValueError):
    """A chat operation was refused: ``kind`` names why (sent to the client as
    the error's ``type``), the message says what to do."""

    def __init__(self, kind: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.kind = kind
        self.extra = extra


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        shown = repr(value)[:60]
        raise ChatError(
            f"Invalid{what.capitalize()}Name",
            f"a {what} name is 1 to 32 lowercase letters, digits, '-' or '_', "
            f"starting with a letter or digit, not {shown}",
        )
    return value


def check_user(value: object) -> str:
    """A valid user name, else a ChatError ``InvalidUserName``."""
    return _check_name("user", value)


def check_room(value: object, *, dm: bool = True) -> str:
    """A valid room name, or (with ``dm``) a conversation ``dm:a:b``, else a
    ChatError ``InvalidRoomName``."""
    if dm and isinstance(value, str) and value.startswith("dm:"):
        parts = value.split(":")
        if len(parts) == 3 and all(_NAME.fullmatch(p) for p in parts[1:]) and parts[1] < parts[2]:
            return value
    return _check_name("room", value)


def check_text(value: object, max_text: int) -> str:
    """A message's text: a str of 1 to ``max_text`` characters (after trimming
    the ends), printable apart from line breaks and tabs. HTML is kept as
    text: every client shows it as text, never as markup."""
    if not isinstance(value, str):
        raise ChatError("InvalidText", "a message's text must be a string")
    text = value.strip()
    if not text:
        raise ChatError("InvalidText", "a message must not be empty")
    if len(text) > max_text:
        raise ChatError(
            "TooLong", f"a message holds at most {max_text} characters, this one {len(text)}"
        )
    for ch in text:
        if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            raise ChatError("InvalidText", f"a message must not hold the control character {ch!r}")
    return text


def dm_room(one: str, other: str) -> str:
    """The conversation of two users (the same whichever starts it)."""
    a, b = sorted((check_user(one), check_user(other)))
    if a == b:
        raise ChatError("InvalidRoomName", "a direct conversation needs two different users")
    return f"dm:{a}:{b}"


def is_dm(room: str) -> bool:
    return room.startswith("dm:")


def participants(room: str) -> tuple[str, str]:
    """The two users of a conversation ``dm:a:b``."""
    _, a, b = room.split(":")
    return a, b


def stream_of(room: str) -> str:
    """The stream of a room or conversation."""
    if is_dm(room):
        return DM_PREFIX + room[3:]
    return ROOM_PREFIX + room


def room_of(stream: str) -> str | None:
    """The room or conversation of a chat stream (None for another stream)."""
    if stream.startswith(ROOM_PREFIX):
        return stream[len(ROOM_PREFIX) :]
    if stream.startswith(DM_PREFIX):
        return "dm:" + stream[len(DM_PREFIX) :]
    return None
