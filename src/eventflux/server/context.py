"""What every endpoint shares: the store, the bus, the settings, auth, limits,
the live hub and the rates. One :class:`ServerContext` per ASGI app, at
``app.state.eventflux``.

Example::

    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from ..bus import MessageBus
from ..store import EventStore
from .auth import Authenticator
from .hub import LiveHub
from .limits import ConnectionLimiter
from .rates import RateCounter
from .served import ServedApps
from .settings import ServerSettings
from .tokens import TokenStore

__all__ = ["ServerContext", "context_of"]


@dataclass(eq=False)
class ServerContext:
    """The shared state of one server: built by :func:`eventflux.server.create_app`.

    ``closing`` is set when the server begins to shut down: live connections
    end with a final comment or frame, so in-flight requests can finish.
    ``apps`` are the served Apps (possibly none); ``extras`` is where modules
    keep their own state.
    """

    store: EventStore
    bus: MessageBus
    settings: ServerSettings
    tokens: TokenStore | None
    auth: Authenticator
    limiter: ConnectionLimiter
    hub: LiveHub
    apps: ServedApps = field(default_factory=ServedApps)
    published: RateCounter = field(default_factory=RateCounter)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        store: EventStore,
        bus: MessageBus,
        tokens: TokenStore | None,
        settings: ServerSettings,
        apps: ServedApps | None = None,
    ) -> ServerContext:
        return cls(
            store=store,
            bus=bus,
            settings=settings,
            tokens=tokens,
            auth=Authenticator(tokens, settings),
            limiter=ConnectionLimiter(settings.max_connections_per_token),
            hub=LiveHub(store),
            apps=apps if apps is not None else ServedApps(),
        )

    async def begin_shutdown(self) -> None:
        """End the live connections (their readers get a last word and may resume)."""
        self.closing.set()
        await self.hub.stop()


def context_of(conn: HTTPConnection) -> ServerContext:
    """The server context of a request or WebSocket."""
    ctx: ServerContext = conn.app.state.eventflux
    return ctx
