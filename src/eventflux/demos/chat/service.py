"""The chat of one App: its settings, and its node while the App runs.

The App runs :meth:`ChatService.run` as a background task (in every
``eventflux serve`` or ``eventflux worker`` process of the App); the
WebSocket endpoint serves its connections on the node of the process it
runs in.

Example::

    service = service_of(app)
    service.node.describe()        # connections, rooms, peers...
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from ...app import App, Context
from ...exceptions import ConfigurationError
from .node import ChatNode
from .rooms import RoomsView
from .settings import ChatSettings

__all__ = ["ChatService", "service_of"]

_SERVICES: WeakKeyDictionary[App, ChatService] = WeakKeyDictionary()


class ChatService:
    """The chat's node in this process, while the App runs."""

    def __init__(self, app: App, settings: ChatSettings | None = None) -> None:
        self.app = app
        self.given = settings
        self.node: ChatNode | None = None
        _SERVICES[app] = self

    @property
    def settings(self) -> ChatSettings:
        """The settings given, else those of the environment (read now)."""
        return self.given or ChatSettings.from_env()

    async def run(self, ctx: Context) -> None:
        """The App's background task: the node, until the App stops. It starts
        once the rooms read model holds what the store holds (its tables exist,
        and membership checks see every join stored before)."""
        await RoomsView(self.app.read_model).catch_up(ctx.store)
        node = ChatNode(ctx.store, ctx.bus, self.settings, self.app.read_model, self.app.settle)
        self.node = node
        try:
            await node.run()
        finally:
            if self.node is node:
                self.node = None


def service_of(app: App) -> ChatService:
    """The chat service of a chat App (made by ``make_app``)."""
    found = _SERVICES.get(app)
    if found is None:
        raise ConfigurationError(f"App {app.name!r} is not a chat App (see make_app)")
    return found
