"""The OpenAPI document: shared schemas, parameters and responses, and the
merge of every module's paths into ``/api/openapi.json``.

Example::

    doc = build_document(modules)
    doc["paths"]["/api/health"]["get"]["responses"]["200"]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .module import ServerModule
from .params import DEFAULT_LIMIT, MAX_INT, MAX_LIMIT

__all__ = [
    "SCHEMAS",
    "build_document",
    "errors",
    "json_body",
    "json_content",
    "limit_parameter",
    "openapi_module",
    "query",
    "ref",
]


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "description": description, "content": json_content(schema)}


_ERROR_TEXT: Final = {
    "400": "Bad input: parameters or body (nothing was written)",
    "401": "No token, or a bad or revoked one",
    "403": "The token lacks the scope or the prefix",
    "404": "Not found",
    "409": "Conflict: the expected version did not match, or an event id is used elsewhere",
    "413": "The body is over the limit, or an event over max_event_bytes",
    "429": "The token holds too many live connections",
    "503": "The store or the bus is unavailable",
}


def errors(*codes: int) -> dict[str, Any]:
    """Error responses (always 400, 401, 403 and 503, plus ``codes``)."""
    out: dict[str, Any] = {}
    for code in sorted({400, 401, 403, 503, *codes}):
        response: dict[str, Any] = {
            "description": _ERROR_TEXT[str(code)],
            "content": json_content(ref("Error")),
        }
        if code == 401:
            response["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
            }
        out[str(code)] = response
    return out


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An optional query parameter."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def limit_parameter() -> dict[str, Any]:
    return query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        f"At most this many items (default {DEFAULT_LIMIT}, 1 to {MAX_LIMIT}).",
    )


_JSON_OBJECT: Final = {"type": "object", "additionalProperties": True}
_POSITION: Final = {"type": "integer", "minimum": 1, "maximum": MAX_INT}

SCHEMAS: Final[dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
                "additionalProperties": True,
            }
        },
    },
    "Event": {
        "type": "object",
        "required": [
            "id",
            "stream",
            "version",
            "position",
            "type",
            "data",
            "metadata",
            "recorded_at",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "stream": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "position": _POSITION,
            "type": {"type": "string"},
            "data": _JSON_OBJECT,
            "metadata": _JSON_OBJECT,
            "recorded_at": {"type": "string", "format": "date-time"},
        },
    },
    "Events": {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": ref("Event")}},
    },
    "NewEvent": {
        "type": "object",
        "required": ["type", "data"],
        "properties": {
            "type": {"type": "string", "minLength": 1, "maxLength": 255},
            "data": _JSON_OBJECT,
            "metadata": _JSON_OBJECT,
            "id": {"type": "string", "format": "uuid"},
        },
    },
    "AppendRequest": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "minItems": 1, "items": ref("NewEvent")},
            "expected_version": {
                "oneOf": [
                    {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                    {"type": "string", "enum": ["any", "no_stream", "exists"]},
                ],
                "default": "any",
            },
        },
    },
    "AppendResult": {
        "type": "object",
        "required": ["first_version", "last_version", "position"],
        "properties": {
            "first_version": {"type": "integer", "minimum": 1},
            "last_version": {"type": "integer", "minimum": 1},
            "position": _POSITION,
        },
    },
    "PublishRequest": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": _JSON_OBJECT,
            "msg_id": {"type": "string", "minLength": 1, "maxLength": 255},
            "key": {"type": "string", "minLength": 1, "maxLength": 255},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "DeadLetter": {
        "type": "object",
        "required": [
            "id",
            "group",
            "subject",
            "msg_id",
            "key",
            "error",
            "deliveries",
            "dead_at",
            "data",
        ],
        "properties": {
            "id": {"type": "string"},
            "group": {"type": "string"},
            "subject": {"type": "string"},
            "msg_id": {"type": "string"},
            "key": {"type": ["string", "null"]},
            "error": {"type": "string"},
            "deliveries": {"type": "integer", "minimum": 0},
            "dead_at": {"type": "string", "format": "date-time"},
            "data": _JSON_OBJECT,
        },
    },
}

_DESCRIPTION: Final = """The eventflux HTTP API: the event store and the message bus over HTTP.

Send `Authorization: Bearer <token>` (tokens: `eventflux token create`). A
server bound to loopback with no tokens is open. Errors are
`{"error": {"type", "message", ...}}`. Live feeds: `GET /api/subscribe`
(Server-Sent Events) and the WebSocket `/api/ws` (JSON frames, see
docs/server.md)."""


def build_document(modules: Iterable[ServerModule], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every module's paths."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(SCHEMAS)
    for module in modules:
        for path, item in module.openapi.items():
            paths.setdefault(path, {}).update(item)
        schemas.update(module.schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "eventflux", "version": version, "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def openapi_module(document: dict[str, Any]) -> ServerModule:
    """``GET /api/openapi.json`` (no token needed), serving ``document``."""

    async def openapi(request: Request) -> Response:
        return Response(body, media_type="application/json")

    document["paths"]["/api/openapi.json"] = {
        "get": {
            "summary": "This document (no token needed)",
            "operationId": "openapi",
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": json_content({"type": "object"})}
            },
        }
    }
    body = orjson.dumps(document)
    return ServerModule("openapi", routes=[Route("/api/openapi.json", openapi, methods=["GET"])])
