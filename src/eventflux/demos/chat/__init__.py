"""Demo: the founding document's real-time chat, as an App that runs in
several server processes.

Rooms (create, join, leave, list with member counts), messages, edits and
deletes stored as events (one stream per room), direct messages, typing
notices (bus only), presence across server processes, history and exact
resumption from the store, and abuse limits; over a WebSocket at
``/demos/chat/ws`` and a page at ``/demos/chat/``.

``eventflux.demos.chat:app`` is the App (``eventflux serve
eventflux.demos.chat:app`` serves it; start several on one store and bus);
:func:`make_app` builds one on other URLs; :class:`ChatClient` is a Python
client; :func:`run` is the scripted conversation of ``eventflux demo chat``.
"""

from __future__ import annotations

from .app import make_app
from .client import ChatClient, ClosedError
from .names import ChatError, dm_room
from .scenario import TITLE, run
from .service import ChatService, service_of
from .settings import ChatSettings
from .timeline import Ack, RoomView, Timeline

__all__ = [
    "TITLE",
    "Ack",
    "ChatClient",
    "ChatError",
    "ChatService",
    "ChatSettings",
    "ClosedError",
    "RoomView",
    "Timeline",
    "app",
    "dm_room",
    "make_app",
    "run",
    "service_of",
]

#: The chat App on the default URLs ($EVENTFLUX_STORE / $EVENTFLUX_BUS, else
#: SQLite files in the working folder), its settings from $EVENTFLUX_CHAT_*.
app = make_app()
