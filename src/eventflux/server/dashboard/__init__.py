"""The dashboard: server-rendered pages (Jinja2) with htmx and Mermaid vendored
in ``static/`` (no CDN, no build step), one live connection per page.

Pages: ``/`` overview with live rates, ``/streams`` (prefix search, paging),
``/stream`` (type and time filters, paging), ``/event`` (pretty JSON,
metadata, link to the causal chain), ``/events`` (the global log, filtered),
``/tail`` (live), ``/groups`` (consumer groups, live), ``/dead-letters``
(retry one, retry the first N, purge), ``/projections`` (lag, rebuild with
live progress), ``/breakers``, ``/sagas``, ``/trace`` (a correlation id as a
sequence diagram), ``/demos`` (the served Apps and their pages under
``/demos/<app name>``), ``/login``.

Modules added to the app put their links in the navigation bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..module import NavLink, ServerModule
from ..served import ServedApps
from ..settings import ServerSettings
from ..tokens import Scope
from .actions import Actions
from .areas import AreaPages
from .demos import DemoPages
from .live import live
from .pages import Handler, Pages, guarded
from .render import Renderer

__all__ = ["CORE_NAV", "dashboard_module"]

STATIC = Path(__file__).resolve().parent.parent / "static"

CORE_NAV = (
    NavLink("/", "Overview"),
    NavLink("/streams", "Streams"),
    NavLink("/events", "Events"),
    NavLink("/tail", "Live tail"),
    NavLink("/groups", "Groups"),
    NavLink("/dead-letters", "Dead letters"),
    NavLink("/projections", "Projections"),
    NavLink("/breakers", "Breakers"),
    NavLink("/sagas", "Sagas"),
    NavLink("/trace", "Causation"),
)


async def _no_icon(request: Request) -> Response:
    return Response(status_code=204)


def dashboard_module(
    areas: Sequence[ServerModule], settings: ServerSettings, apps: ServedApps | None = None
) -> ServerModule:
    """The dashboard's pages, with a navigation link for each area that has one
    and the served Apps' pages."""
    del settings
    apps = apps if apps is not None else ServedApps()
    demos_nav = [NavLink("/demos", "Apps")] if len(apps) else []
    nav = [*CORE_NAV, *demos_nav, *(link for area in areas for link in area.nav)]
    extra = [area.templates for area in areas if area.templates is not None]
    renderer = Renderer(nav, extra)
    pages = Pages(renderer)
    actions = Actions(renderer)
    area_pages = AreaPages(renderer)
    demos = DemoPages(apps, nav, renderer)
    read = Scope.READ

    def page(path: str, handler: Handler) -> Route:
        return Route(path, guarded(renderer, read, handler), methods=["GET"])

    def guard(handler: Handler) -> Any:
        return guarded(renderer, read, handler)

    return ServerModule(
        "dashboard",
        routes=[
            page("/", pages.overview),
            page("/streams", pages.streams),
            page("/stream", pages.stream),
            page("/event", pages.event),
            page("/events", pages.events),
            page("/tail", pages.tail),
            page("/dead-letters", pages.dead_letters),
            page("/trace", pages.trace),
            page("/groups", area_pages.groups),
            page("/projections", area_pages.projections),
            page("/breakers", area_pages.breakers),
            page("/sagas", area_pages.sagas),
            Route("/projections/rebuild", area_pages.rebuild, methods=["POST"]),
            Route("/live", live, methods=["GET"]),
            Route("/login", actions.login_page, methods=["GET"]),
            Route("/login", actions.login, methods=["POST"]),
            Route("/logout", actions.logout, methods=["POST"]),
            Route("/dead-letters/retry", actions.retry, methods=["POST"]),
            Route("/dead-letters/retry-first", actions.retry_first, methods=["POST"]),
            Route("/dead-letters/purge", actions.purge, methods=["POST"]),
            Route("/favicon.ico", _no_icon, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *demos.routes(guard),
        ],
    )
