"""The demo-like package's own web routes, mounted under ``/demos/demo_like``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventflux import App

PRESSED: list[str] = []


def routes(app: App) -> list[Any]:
    async def ping(request: Request) -> Response:
        return JSONResponse({"app": app.name, "root": request.scope.get("root_path", "")})

    async def press(request: Request) -> Response:
        PRESSED.append(app.name)
        return JSONResponse({"pressed": len(PRESSED)}, status_code=201)

    return [
        Route("/ping", ping, methods=["GET"]),
        Route("/press", press, methods=["POST"]),
    ]
