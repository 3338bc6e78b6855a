"""``/api/streams``: list streams, read one, append to one.

- ``GET /api/streams?prefix=&limit=`` -> ``[{"stream", "version"}]``
- ``GET /api/streams/{stream}?from_version=&limit=&backwards=`` -> ``{"events": [...]}``
  (404 for a stream that does not exist or was deleted)
- ``POST /api/streams/{stream}`` -> 201 ``{"first_version", "last_version", "position"}``
  (200 with the original result for a retry of a stored batch)
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...store import EventStore
from ..auth import narrow_prefix
from ..context import context_of
from ..errors import ApiError
from ..jsonio import json_response, read_json
from ..module import ServerModule
from ..openapi import errors, json_body, json_content, limit_parameter, query, ref
from ..params import MAX_INT, bool_param, int_param, limit_param, str_param
from ..routing import NAME
from ..tokens import Scope
from ..wire import event_json, parse_append

__all__ = ["MODULE", "append", "list_streams", "read_stream", "stream_exists"]

_VERSIONS_AT_ONCE = 64


async def stream_exists(store: EventStore, stream: str) -> bool:
    """True if ``stream`` has readable events (not missing, not deleted)."""
    async for _ in store.read(stream, limit=1):
        return True
    return False


async def list_streams(request: Request) -> Response:
    """The streams (within the token's prefix) and their versions, by name."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    prefix = narrow_prefix(principal.prefix, str_param(request, "prefix"))
    limit = limit_param(request)
    if prefix is None:
        return json_response([])
    names = (await ctx.store.streams(prefix))[:limit]
    versions: list[int] = []
    for i in range(0, len(names), _VERSIONS_AT_ONCE):
        chunk = names[i : i + _VERSIONS_AT_ONCE]
        versions += await asyncio.gather(*(ctx.store.stream_version(n) for n in chunk))
    return json_response(
        [{"stream": n, "version": v} for n, v in zip(names, versions, strict=True)]
    )


async def read_stream(request: Request) -> Response:
    """The events of one stream, in version order (or backwards)."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    stream: str = request.path_params["stream"]
    principal.check_name(stream)
    from_version = int_param(request, "from_version", None)
    limit = limit_param(request)
    backwards = bool_param(request, "backwards")
    events = [
        e
        async for e in ctx.store.read(
            stream, from_version=from_version, backwards=backwards, limit=limit
        )
    ]
    if not events and not await stream_exists(ctx.store, stream):
        raise ApiError(404, "StreamNotFound", f"stream {stream!r} does not exist", stream=stream)
    return json_response({"events": [event_json(e) for e in events]})


async def append(request: Request) -> Response:
    """Append events; 201 when stored now, 200 for a retry of a stored batch."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.WRITE)
    stream: str = request.path_params["stream"]
    principal.check_name(stream)
    events, expected, explicit_ids = parse_append(await read_json(request, ctx.settings))
    # Only a batch whose events all carry ids can be a retry: it then comes back
    # with the position it was stored at, at or below the end seen before.
    before = await ctx.store.last_position() if explicit_ids else None
    result = await ctx.store.append(stream, events, expected)
    retried = before is not None and result.position <= before
    return json_response(
        {
            "first_version": result.first_version,
            "last_version": result.last_version,
            "position": result.position,
        },
        status=200 if retried else 201,
    )


_STREAM_PARAM: dict[str, Any] = {
    "name": "stream",
    "in": "path",
    "required": True,
    "description": "The stream name (1 to 255 characters, no control characters).",
    "schema": {"type": "string"},
}

MODULE = ServerModule(
    "streams",
    routes=[
        Route("/api/streams", list_streams, methods=["GET"]),
        Route(f"/api/streams/{{stream:{NAME}}}", read_stream, methods=["GET"]),
        Route(f"/api/streams/{{stream:{NAME}}}", append, methods=["POST"]),
    ],
    openapi={
        "/api/streams": {
            "get": {
                "summary": "List streams and their versions",
                "operationId": "listStreams",
                "parameters": [
                    query("prefix", {"type": "string"}, "Only streams starting with this."),
                    limit_parameter(),
                ],
                "responses": {
                    "200": {
                        "description": "Streams, by name",
                        "content": json_content(
                            {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["stream", "version"],
                                    "properties": {
                                        "stream": {"type": "string"},
                                        "version": {"type": "integer", "minimum": 0},
                                    },
                                },
                            }
                        ),
                    },
                    **errors(),
                },
            }
        },
        "/api/streams/{stream}": {
            "get": {
                "summary": "Read a stream",
                "operationId": "readStream",
                "parameters": [
                    _STREAM_PARAM,
                    query(
                        "from_version",
                        {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                        "First version to read (inclusive, in either direction).",
                    ),
                    limit_parameter(),
                    query("backwards", {"type": "boolean"}, "Newest first."),
                ],
                "responses": {
                    "200": {"description": "The events", "content": json_content(ref("Events"))},
                    **errors(404),
                },
            },
            "post": {
                "summary": "Append events to a stream",
                "operationId": "appendToStream",
                "parameters": [_STREAM_PARAM],
                "requestBody": json_body(ref("AppendRequest"), "The events to append"),
                "responses": {
                    "200": {
                        "description": "A retry of a stored batch: the original result",
                        "content": json_content(ref("AppendResult")),
                    },
                    "201": {
                        "description": "Appended",
                        "content": json_content(ref("AppendResult")),
                    },
                    **errors(409, 413),
                },
            },
        },
    },
)
