"""JSON in and out: bodies read under a size limit, parsed with a depth limit,
and answered with orjson.

Example::

    body = await read_json(request, settings)        # 413, 400 as DESIGN 3.8 says
    return json_response({"msg_id": msg_id}, status=202)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .errors import ApiError
from .settings import ServerSettings

__all__ = ["JSONBytes", "check_depth", "dumps", "json_response", "read_body", "read_json"]

_OPTIONS: Final = orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    # registered event classes (dataclasses are native to orjson; Structs are not)
    return msgspec.to_builtins(value)


def dumps(value: Any) -> bytes:
    """Encode ``value`` as JSON (UUIDs and datetimes as strings, UTC as ``Z``)."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


class JSONBytes(Response):
    """A response of JSON already encoded, its headers made at once (the
    busiest answers are small: building them is a good part of their cost)."""

    media_type = "application/json"

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response."""
    if headers is None:
        return JSONBytes(dumps(value), status)
    return Response(
        dumps(value), status_code=status, headers=headers, media_type="application/json"
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "RequestTooLarge",
        f"the request body is over the limit of {limit} bytes (server option --max-body)",
        headers={"Connection": "close"},
        limit=limit,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed
    ``limit``: at once when ``Content-Length`` says so, else when the chunks
    received so far add up to more (the rest is never read)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit() or len(declared) > 18:
            raise ApiError(400, "BadRequest", "Content-Length must be a non-negative integer")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    total = 0
    receive = request.receive
    while True:  # the ASGI messages themselves: no generator per request
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def check_depth(value: Any, limit: int) -> None:
    """Raise a 400 if ``value`` nests objects and arrays deeper than ``limit``
    levels (a top-level object or array is level 1)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                if depth + 1 > limit:
                    raise ApiError(
                        400,
                        "BadRequest",
                        f"the JSON body nests deeper than {limit} levels",
                        limit=limit,
                    )
                stack.append((child, depth + 1))


async def read_json(request: Request, settings: ServerSettings) -> Any:
    """Read and parse a JSON request body under the server's limits."""
    raw = await read_body(request, settings.max_body)
    if not raw.strip():
        raise ApiError(400, "BadRequest", "the request needs a JSON body")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ApiError(400, "BadRequest", f"the body is not valid JSON: {e}") from None
    if type(value) is dict or type(value) is list:
        # nesting never exceeds the number of objects and arrays: most bodies
        # are cleared by counting brackets, without walking them
        limit = settings.max_json_depth
        if raw.count(b"{") + raw.count(b"[") > limit:
            check_depth(value, limit)
    return value
