"""A server module: routes, their OpenAPI paths and dashboard links, added to
the app as one piece. The core API areas are modules; the App's areas (groups,
projections, sagas, breakers, traces, metrics) plug in the same way.

Example::

    groups = ServerModule(
        "groups",
        routes=[Route("/api/groups", list_groups)],
        openapi={"/api/groups": {"get": {...}}},
        nav=[NavLink("/groups", "Groups")],
    )
    app = create_app(store, bus, modules=[groups])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from .context import ServerContext

__all__ = ["NavLink", "ServerModule"]

Hook = Callable[[ServerContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NavLink:
    """A link in the dashboard's navigation bar."""

    path: str
    label: str


@dataclass(frozen=True, slots=True)
class ServerModule:
    """Routes and what describes them.

    ``openapi`` holds OpenAPI path items (``{"/api/x": {"get": {...}}}``) and
    ``schemas`` component schemas, merged into ``/api/openapi.json``; ``nav``
    adds dashboard links; ``templates`` a folder of Jinja2 templates the
    dashboard can render; ``on_startup``/``on_shutdown`` run with the server's
    :class:`~eventflux.server.context.ServerContext`.
    """

    name: str
    routes: Sequence[BaseRoute] = ()
    openapi: Mapping[str, Any] = field(default_factory=dict)
    schemas: Mapping[str, Any] = field(default_factory=dict)
    nav: Sequence[NavLink] = ()
    templates: Path | None = None
    on_startup: Hook | None = None
    on_shutdown: Hook | None = None
