"""The chat's own web routes, mounted by ``eventflux serve`` under
``/demos/chat`` behind the server's tokens: the WebSocket endpoint ``/ws``
and ``/stats`` (what this server process holds, as JSON). The page itself
(``/``) is the App's page.

Example::

    Mount("/demos/chat", routes=routes(app))
"""

from __future__ import annotations

from typing import Any

from ...app import App
from .endpoint import ChatEndpoint
from .service import service_of

__all__ = ["routes"]


def routes(app: App) -> list[Any]:
    """``/ws`` and ``/stats`` for the chat App ``app``."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute

    service = service_of(app)

    async def stats(request: Request) -> Response:
        node = service.node
        if node is None:
            return JSONResponse(
                {"error": {"type": "Unavailable", "message": "the chat is not running here"}},
                status_code=503,
            )
        return JSONResponse(node.describe())

    return [WebSocketRoute("/ws", ChatEndpoint(service)), Route("/stats", stats, methods=["GET"])]
