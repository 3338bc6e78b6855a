"""The served Apps' own pages, mounted under ``/demos/<app name>``, and the
``/demos`` index that lists the Apps with what they run.

A page (``app.page("/", "bank.html", context=balances)``) is rendered from
the ``templates`` folder beside the module that defines the App; a template
may extend the dashboard's ``base.html`` (navigation, live rates, the open
server banner). Its variables: ``app`` (the App), ``base`` (the App's
prefix, for links), ``query`` (the request's query parameters), ``store``
and ``bus``, and what ``context`` returns: ``context`` is a plain or
``async`` function taking nothing, the App, or the App and the request,
and returns a mapping. A ``static`` folder beside ``templates`` is served at
``/demos/<app name>/static/``.

Example::

    routes = demo_routes(served_apps, nav, principal_guard)
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ...app import Page
from ..auth import Principal
from ..context import context_of
from ..errors import ApiError
from ..module import NavLink
from ..served import ServedApp, ServedApps
from .render import Renderer

__all__ = ["DemoPages", "page_context"]

log = logging.getLogger("eventflux.server")

Guard = Callable[[Callable[[Request, Principal], Awaitable[Response]]], Callable[..., Any]]


async def page_context(page: Page, served: ServedApp, request: Request) -> Mapping[str, Any]:
    """What a page's ``context`` function returns (an empty mapping without one)."""
    if page.context is None:
        return {}
    params = [
        p
        for p in inspect.signature(page.context).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    args: tuple[Any, ...] = (served.app, request)[: min(len(params), 2)]
    result = page.context(*args)
    if inspect.isawaitable(result):
        result = await result
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise TypeError(
            f"the context of page {page.path!r} of app {served.name!r} must return a mapping, "
            f"not {type(result).__name__}"
        )
    return result


class DemoPages:
    """Routes for the served Apps' pages and the ``/demos`` index."""

    def __init__(self, apps: ServedApps, nav: Sequence[NavLink], index: Renderer) -> None:
        self.apps = apps
        self.index_renderer = index
        self.renderers = {
            served.name: Renderer(nav, first=[served.templates] if served.templates else [])
            for served in apps.apps
        }
        for served in apps.apps:
            for page in served.app.pages:
                if served.templates is None or not (served.templates / page.template).is_file():
                    log.warning(
                        "app %r: page %r has no template %r in %s",
                        served.name,
                        page.path,
                        page.template,
                        served.templates or f"a 'templates' folder beside {served.folder}",
                    )

    def routes(self, guard: Guard) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/demos", guard(self.index), methods=["GET"])]
        for served in self.apps.apps:
            base = served.prefix
            if not any(p.path == "/" for p in served.app.pages):
                routes.append(Route(base + "/", guard(self._one(served)), methods=["GET"]))
            routes.append(Route(base, _redirect(base + "/"), methods=["GET"]))
            for page in served.app.pages:
                routes.append(Route(base + page.path, guard(self._page(served, page))))
            if served.static is not None:
                routes.append(Mount(base + "/static", StaticFiles(directory=served.static)))
        return routes

    async def index(self, request: Request, principal: Principal) -> Response:
        """Every served App."""
        ctx = context_of(request)
        return await self._show(request, principal, list(ctx.apps.apps), "Apps")

    def _one(self, served: ServedApp) -> Callable[[Request, Principal], Awaitable[Response]]:
        """One App's own index (an App without a ``/`` page of its own)."""

        async def one(request: Request, principal: Principal) -> Response:
            return await self._show(request, principal, [served], f"App {served.name}")

        return one

    async def _show(
        self, request: Request, principal: Principal, shown: list[ServedApp], title: str
    ) -> Response:
        apps = [
            {
                "name": s.name,
                "base": s.prefix,
                "pages": [p.path for p in s.app.pages],
                "groups": sorted({sub.group for sub in s.app.subscriptions}),
                "projections": [p.name for p in s.app.projections],
                "relays": [f"{r.stream_prefix}* -> {r.subject}" for r in s.app.relays],
                "commands": sorted(t.__name__ for t in s.app.command_types),
                "queries": sorted(t.__name__ for t in s.app.query_types),
                "running": s.app.running_now,
            }
            for s in shown
        ]
        return await self.index_renderer.page(
            request, "demos.html", "/demos", principal=principal, apps=apps, title=title,
        )  # fmt: skip

    def _page(
        self, served: ServedApp, page: Page
    ) -> Callable[[Request, Principal], Awaitable[Response]]:
        renderer = self.renderers[served.name]

        async def show(request: Request, principal: Principal) -> Response:
            ctx = context_of(request)
            if served.templates is None or not (served.templates / page.template).is_file():
                raise ApiError(
                    404,
                    "NotFound",
                    f"app {served.name!r} has no template {page.template!r} (looked in "
                    f"{served.templates or 'a templates folder beside its module'})",
                )
            variables = await page_context(page, served, request)
            return await renderer.page(
                request, page.template, "/demos", principal=principal,
                **{"title": f"{served.name}", "app": served.app, "base": served.prefix,
                   "query": dict(request.query_params), "store": ctx.store, "bus": ctx.bus,
                   **variables},
            )  # fmt: skip

        return show


def _redirect(target: str) -> Callable[[Request], Awaitable[Response]]:
    async def go(request: Request) -> Response:
        return RedirectResponse(target, 307)

    return go
