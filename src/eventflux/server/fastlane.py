"""The busiest route, served without the router's and the middleware's layers.

Appending events (``POST /api/streams/{stream}``) is what a busy server does
most; going through Starlette's error middleware, exception middleware,
router (trying the routes before it in turn) and endpoint wrapper costs more
than the endpoint's own work. :class:`ServerApp` answers such a request by
calling its endpoint directly, with the same request object, the same path
parameter and the same exception handlers; every other request, and this
one under a ``root_path``, takes the usual way.

Example::

    app = ServerApp(routes=routes, exception_handlers=handlers,
                    fast=[FastRoute("POST", "/api/streams/", "stream", append)])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["FastRoute", "ServerApp"]

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """``method`` requests whose path starts with ``prefix``: the rest of the path
    is the path parameter ``param`` (as the ``name`` convertor takes it)."""

    method: str
    prefix: str
    param: str
    endpoint: Endpoint


class ServerApp(Starlette):
    """Starlette, with :class:`FastRoute` requests served directly."""

    def __init__(self, *, fast: Sequence[FastRoute] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast = tuple(fast)
        self._handlers: Mapping[Any, Handler] = dict(kwargs.get("exception_handlers") or {})

    def _handler(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            for route in self.fast:
                if method == route.method and path.startswith(route.prefix):
                    scope["app"] = self
                    scope["path_params"] = {route.param: path[len(route.prefix) :]}
                    await self._serve(route.endpoint, scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)
