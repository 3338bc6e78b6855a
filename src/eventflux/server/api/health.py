"""``GET /api/health``: ``{"status": "ok"}`` while the store and the bus answer
(no token needed); 503 when one of them is down."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import context_of
from ..errors import ApiError
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import json_content, ref

__all__ = ["MODULE", "health"]


async def health(request: Request) -> Response:
    """Answer 200 if the store reads and the bus is open, else 503."""
    ctx = context_of(request)
    await ctx.store.last_position()  # raises StoreUnavailableError/StoreClosedError: 503
    if ctx.bus.closed:
        raise ApiError(503, "BusClosedError", "the message bus is closed")
    return json_response({"status": "ok"})


MODULE = ServerModule(
    "health",
    routes=[Route("/api/health", health, methods=["GET"])],
    openapi={
        "/api/health": {
            "get": {
                "summary": "Is the server up (no token needed)",
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The store and the bus answer",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"const": "ok"}},
                            }
                        ),
                    },
                    "503": {"description": "Down", "content": json_content(ref("Error"))},
                },
            }
        }
    },
)
