"""A small Starlette server for the smart-home page, for its browser test while
the server that mounts App pages (``/demos/<app name>``, ``POST
/api/publish/{subject}``) is not in this checkout: it renders the App's pages
from the templates beside its module, serves its static folder, and publishes
what the page posts, as that server does."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from eventflux import App
from eventflux.bus import MessageBus

BASE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ app.name }}</title>{% block scripts %}{% endblock %}</head>
<body><main>{% block main %}{% endblock %}</main></body></html>"""


def page_server(app: App, folder: Path, bus: MessageBus) -> Starlette:
    prefix = f"/demos/{app.name}"
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(folder / "templates"), jinja2.DictLoader({"base.html": BASE})]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
    )

    async def render(request: Request) -> Response:
        path = "/" + request.path_params.get("path", "")
        page = next((p for p in app.pages if p.path == path), None)
        if page is None:
            return Response("not found", status_code=404)
        variables: dict[str, Any] = {"app": app, "base": prefix, "query": request.query_params}
        if page.context is not None:
            found = page.context(app, request)
            variables.update(await found if inspect.isawaitable(found) else found)
        body = env.get_template(page.template).render(**variables)
        json = page.template.endswith(".json")
        return Response(body, media_type="application/json" if json else "text/html")

    async def publish(request: Request) -> Response:
        body = await request.json()
        msg_id = await bus.publish(request.path_params["subject"], body["data"])
        return JSONResponse({"msg_id": msg_id}, status_code=202)

    return Starlette(
        routes=[
            Mount(f"{prefix}/static", StaticFiles(directory=folder / "static")),
            Route(f"{prefix}/{{path:path}}", render),
            Route("/api/publish/{subject}", publish, methods=["POST"]),
        ]
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(asgi: Any) -> AsyncIterator[str]:
    """Serve ``asgi`` on a free loopback port; yields its URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning"))
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
