"""The orders page on the web: its Jinja2 template and its JSON routes, as
Starlette routes to mount under ``/demos/orders``.

The page (``templates/orders.html``) is self-contained (no outside script or
style) and calls the JSON routes relative to its own path:

====== ========================= ==============================================
GET    ``/``                     the page
GET    ``/static/orders.js``     its script (no inline script: CSP allows none)
GET    ``/api/orders``           newest orders with status, counts by status
POST   ``/api/orders``           place one: ``{"sku", "qty", "customer"}``
GET    ``/api/orders/{id}``      one order: saga state, timeline, trace link
POST   ``/api/load``             place ``{"n": 50}`` orders at once
GET    ``/api/gateway``          outage switch, breaker of each payments process
POST   ``/api/gateway``          ``{"down": true|false}``
====== ========================= ==============================================

Errors are ``{"error": {"type", "message"}}`` with 400 (bad input) or 404.
The App must be running (``eventflux serve`` runs it).

Example::

    from starlette.applications import Starlette
    from starlette.routing import Mount

    site = Starlette(routes=[Mount("/demos/orders", routes=routes(orders))])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from ...app import App
from .page_data import (
    BadRequest,
    gateway_state,
    order_detail,
    place,
    place_load,
    recent_orders,
    switch_gateway,
    template_context,
)

__all__ = ["STATIC", "TEMPLATES", "render_page", "routes"]

#: The folder of the page's template (``orders.html``).
TEMPLATES: Final = Path(__file__).with_name("templates")
#: The folder of the page's script (``orders.js``), served at ``static/``.
STATIC: Final = Path(__file__).with_name("static")


def render_page(base: str = "/demos/orders/") -> str:
    """The page's HTML, for a page served at ``base``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, enable_async=False
    )
    return env.get_template("orders.html").render(**template_context(base))


def routes(app: App) -> list[Any]:
    """The page and its JSON routes for the running ``app`` (the ``orders`` App),
    to mount under a prefix (``Mount("/demos/orders", routes=routes(orders))``)."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def base_of(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/") + "/"

    def error(status: int, kind: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body

    def guarded(fn: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except BadRequest as e:
                return error(400, type(e).__name__, str(e))

        return endpoint

    async def page(request: Request) -> Response:
        if not request.url.path.endswith("/"):  # relative API paths need the slash
            return RedirectResponse(request.url.path + "/", status_code=307)
        return HTMLResponse(render_page(base_of(request)))

    async def orders_list(request: Request) -> Response:
        raw = request.query_params.get("limit", "30")
        limit = int(raw) if raw.isdigit() and 1 <= int(raw) <= 200 else 30
        return JSONResponse(await recent_orders(app, limit))

    async def orders_place(request: Request) -> Response:
        return JSONResponse(await place(app, await body_of(request)), status_code=201)

    async def order_one(request: Request) -> Response:
        found = await order_detail(app, request.path_params["order_id"])
        if found is None:
            return error(404, "NotFound", "there is no such order")
        return JSONResponse(found)

    async def load(request: Request) -> Response:
        return JSONResponse(await place_load(app, await body_of(request)), status_code=202)

    async def gateway(request: Request) -> Response:
        if request.method == "POST":
            await switch_gateway(app, await body_of(request))
        return JSONResponse(await gateway_state(app))

    return [
        Route("/", guarded(page), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC)),
        Route("/api/orders", guarded(orders_list), methods=["GET"]),
        Route("/api/orders", guarded(orders_place), methods=["POST"]),
        Route("/api/orders/{order_id}", guarded(order_one), methods=["GET"]),
        Route("/api/load", guarded(load), methods=["POST"]),
        Route("/api/gateway", guarded(gateway), methods=["GET", "POST"]),
    ]
