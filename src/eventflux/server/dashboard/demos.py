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
from urllib.parse import urlencode

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ...app import Page
from ..auth import Principal, header
from ..context import context_of
from ..errors import ApiError, error_response
from ..module import NavLink
from ..served import ServedApp, ServedApps
from ..tokens import Scope as TokenScope
from .render import Renderer

__all__ = ["DemoPages", "TokenGuard", "page_context"]

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
            has_root = any(p.path == "/" for p in served.app.pages) or bool(served.routes)
            if not has_root:
                routes.append(Route(base + "/", guard(self._one(served)), methods=["GET"]))
            routes.append(Route(base, _redirect(base + "/"), methods=["GET"]))
            for page in served.app.pages:
                routes.append(Route(base + page.path, guard(self._page(served, page))))
            if served.static is not None:
                routes.append(Mount(base + "/static", StaticFiles(directory=served.static)))
            if served.routes:  # last: the mount takes every other path under the prefix
                routes.append(Mount(base, app=TokenGuard(Router(routes=list(served.routes)))))
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


class TokenGuard:
    """An App's own routes behind the server's tokens: reading (GET, HEAD)
    needs ``read``, anything else ``write``; a browser without a token is sent
    to the log-in page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            conn = HTTPConnection(scope)
            reading = scope["type"] == "websocket" or scope["method"] in ("GET", "HEAD")
            try:
                await context_of(conn).auth.require(
                    conn, TokenScope.READ if reading else TokenScope.WRITE
                )
            except ApiError as e:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                response: Response = error_response(e)
                if e.status == 401 and reading and "text/html" in (header(conn, b"accept") or ""):
                    query = scope.get("query_string", b"").decode("latin-1")
                    target = scope["path"] + (f"?{query}" if query else "")
                    response = RedirectResponse("/login?" + urlencode({"next": target}), 303)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _redirect(target: str) -> Callable[[Request], Awaitable[Response]]:
    async def go(request: Request) -> Response:
        return RedirectResponse(target, 307)

    return go
