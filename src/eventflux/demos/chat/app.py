"""The chat demo's App: the rooms read model, the node of each server process
(a background task), the page, and the settings.

Example::

    app = make_app(store="sqlite:///chat.db", bus="sqlite:///chat-bus.db")
    # eventflux serve eventflux.demos.chat:app   (the page at /demos/chat/)
"""

from __future__ import annotations

from typing import Any

from ...app import App
from .rooms import RoomsView
from .service import ChatService, service_of
from .settings import ChatSettings

__all__ = ["make_app", "page_context"]


def page_context(app: App) -> dict[str, Any]:
    """What the page's template needs: the limits and the heartbeat."""
    settings = service_of(app).settings
    return {"limits": settings.limits(), "heartbeat": settings.heartbeat}


def make_app(
    *,
    store: str | None = None,
    bus: str | None = None,
    read_model: str | None = None,
    settings: ChatSettings | None = None,
) -> App:
    """The chat as an App named ``chat`` on the given URLs (default:
    ``$EVENTFLUX_STORE`` / ``$EVENTFLUX_BUS``, else SQLite files in the working
    folder) and settings (default: from the environment when it starts)."""
    app = App("chat", store=store, bus=bus, read_model=read_model)
    app.projection(RoomsView)
    service = ChatService(app, settings)
    app.task(service.run)
    app.page("/", "chat.html", context=page_context)
    return app
