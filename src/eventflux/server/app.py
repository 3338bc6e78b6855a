"""The ASGI app factory.

Example::

    store = await open_store("sqlite:///.eventflux/store.db")
    bus = await open_bus("sqlite:///.eventflux/bus.db")
    app = create_app(store, bus, tokens=await open_token_store(...))
    # run it with uvicorn, or `eventflux serve`
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import PackageNotFoundError, version

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from ..app import App
from ..bus import MessageBus
from ..exceptions import EventfluxError
from ..store import EventStore
from .api import app_modules, core_modules
from .api.streams import append
from .context import ServerContext
from .errors import ApiError, http_exception_handler, unexpected_error_handler
from .fastlane import FastRoute, ServerApp
from .module import ServerModule
from .openapi import build_document, openapi_module
from .served import ServedApp, ServedApps
from .settings import ServerSettings
from .tokens import TokenStore

__all__ = ["create_app"]

log = logging.getLogger("eventflux.server")


def _version() -> str:
    try:
        return version("eventflux")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def create_app(
    store: EventStore,
    bus: MessageBus,
    *,
    tokens: TokenStore | None = None,
    settings: ServerSettings | None = None,
    modules: Sequence[ServerModule] = (),
    dashboard: bool = True,
    apps: Sequence[App | ServedApp] = (),
) -> Starlette:
    """The HTTP API (and the dashboard) over an open store and bus.

    ``tokens`` is where token hashes are kept (None: no tokens, so the server
    is open, which only a loopback ``settings.host`` allows); ``modules`` add
    routes, OpenAPI paths and dashboard links. ``apps`` are
    :class:`eventflux.App` objects to serve: while the server runs, their
    subscribers, relays, projections and tasks run on ``store`` and ``bus``
    (unless ``settings.workers`` is false), their pages are mounted under
    ``/demos/<app name>``, and the API shows their projections, groups and
    causal chains. The caller keeps ownership of ``store``, ``bus`` and
    ``tokens`` and closes them after the server stops.

    Example::

        app = create_app(store, bus, apps=[shop], settings=ServerSettings(max_body=1 << 20))
    """
    settings = settings or ServerSettings()
    if tokens is None and not settings.loopback:
        raise EventfluxError(
            f"a server bound to {settings.host!r} needs tokens; "
            "create one with: eventflux token create --scope admin"
        )
    served = ServedApps.of(apps)
    ctx = ServerContext.build(store, bus, tokens, settings, served)
    areas = [*core_modules(), *app_modules(), *modules]
    if dashboard:
        from .dashboard import dashboard_module

        areas.append(dashboard_module(areas, settings, served))
    document = build_document(areas, _version())
    areas.append(openapi_module(document))
    routes: list[BaseRoute] = [route for area in areas for route in area.routes]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for area in areas:
            if area.on_startup is not None:
                await area.on_startup(ctx)
        if settings.workers and len(served):
            await served.start_workers(store, bus)
            log.info("running the workers of %s", ", ".join(a.name for a in served.apps))
        if await ctx.auth.is_open():
            log.warning(
                "the server is OPEN: bound to loopback (%s) with no tokens, every local "
                "caller is an admin; create a token with: eventflux token create",
                settings.host,
            )
        try:
            yield
        finally:
            await ctx.begin_shutdown()
            await served.close()  # rebuilds stop; handlers in flight finish
            for area in reversed(areas):
                if area.on_shutdown is not None:
                    await area.on_shutdown(ctx)

    app = ServerApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_exception_handler,
            ApiError: http_exception_handler,
            EventfluxError: unexpected_error_handler,
            Exception: unexpected_error_handler,
        },
        fast=[FastRoute("POST", "/api/streams/", "stream", append)],
    )
    app.state.eventflux = ctx
    return app
