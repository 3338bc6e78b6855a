"""``GET /api/trace/{correlation_id}``: the causal chain of one request, as JSON
and as a Mermaid sequence diagram (from :func:`eventflux.observability.trace`,
with the served Apps' relays naming the subjects).

``{"correlation_id", "events": [...], "messages": [...], "commands": [...],
"nodes": [...], "mermaid": "sequenceDiagram ..."}``: ``events`` are the
stored events in causation order (the root first), ``messages`` the bus
messages between them (``msg_id``, ``subject``, ``causation_id``; a message
relayed from an event has the event's id as ``msg_id`` and as causation
id), ``commands`` the commands that appended them, ``nodes`` every hop in
order with its ``parent``. 404 when no event carries the id. A token with a
prefix sees the events of its streams and the messages of its subjects.
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...events import RecordedEvent
from ...observability.trace import Trace, TraceNode, build_trace
from ..auth import Principal
from ..context import ServerContext, context_of
from ..errors import ApiError
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import errors, json_content, ref
from ..routing import NAME
from ..tokens import Scope
from ..wire import event_json
from .read_all import read_correlated

__all__ = ["MODULE", "MAX_HOPS", "load_trace", "trace_json"]

#: the most events one chain shows
MAX_HOPS: Final = 10_000
_MAX_ID: Final = 1024


def check_correlation_id(raw: str) -> str:
    """``raw`` if it can be a correlation id, else a 400."""
    if not raw or len(raw) > _MAX_ID or "\x00" in raw:
        raise ApiError(
            400,
            "BadRequest",
            f"a correlation id is 1 to {_MAX_ID} characters without NUL",
        )
    return raw


async def load_trace(ctx: ServerContext, principal: Principal, correlation_id: str) -> Trace:
    """The chain of ``correlation_id`` as far as the caller may see it (empty
    when no visible event carries it)."""
    events = await read_correlated(
        ctx.store,
        correlation_id,
        after=0,
        limit=MAX_HOPS,
        types=None,
        stream_prefix=principal.prefix or None,
    )
    chain = build_trace(correlation_id, events, subject_of=ctx.apps.subject_of)
    if not principal.prefix:
        return chain
    by_id = {str(e.id): e for e in chain.events}
    kept = [n for n in chain.nodes if n.kind != "message" or _covered(principal, n, by_id, ctx)]
    return Trace(correlation_id, kept)


def _subject(node: TraceNode, by_id: dict[str, RecordedEvent], ctx: ServerContext) -> str | None:
    """The subject of a message hop, when a served App's relay names it."""
    source = by_id.get(node.cause) if node.cause is not None else None
    return ctx.apps.subject_of(source) if source is not None else None


def _covered(
    principal: Principal, node: TraceNode, by_id: dict[str, RecordedEvent], ctx: ServerContext
) -> bool:
    subject = _subject(node, by_id, ctx)
    return subject is not None and principal.covers(subject)


def trace_json(chain: Trace, ctx: ServerContext) -> dict[str, Any]:
    """The chain as the API shows it."""
    by_id = {str(e.id): e for e in chain.events}
    return {
        "correlation_id": chain.correlation_id,
        "events": [event_json(e) for e in chain.events],
        "messages": [
            {
                "msg_id": n.id,
                "subject": _subject(n, by_id, ctx),
                "causation_id": n.cause,
                "actor": n.actor,
            }
            for n in chain.messages
        ],
        "commands": [
            {"command_id": n.id, "type": n.name, "causation_id": n.cause, "actor": n.actor}
            for n in chain.commands
        ],
        "nodes": [n.as_dict() for n in chain.nodes],
        "mermaid": chain.mermaid(),
    }


async def get_trace(request: Request) -> Response:
    """The causal chain of one correlation id; 404 when no event carries it."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    correlation_id = check_correlation_id(request.path_params["correlation_id"])
    chain = await load_trace(ctx, principal, correlation_id)
    if not chain.events:
        raise ApiError(
            404,
            "TraceNotFound",
            f"no event carries the correlation id {correlation_id!r}"[:300],
            correlation_id=correlation_id[:300],
        )
    return json_response(trace_json(chain, ctx))


_TEXT_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Trace": {
        "type": "object",
        "required": ["correlation_id", "events", "messages", "commands", "nodes", "mermaid"],
        "properties": {
            "correlation_id": {"type": "string"},
            "events": {"type": "array", "items": ref("Event")},
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["msg_id", "subject", "causation_id", "actor"],
                    "properties": {
                        "msg_id": {"type": "string"},
                        "subject": _TEXT_OR_NULL,
                        "causation_id": _TEXT_OR_NULL,
                        "actor": _TEXT_OR_NULL,
                    },
                },
            },
            "commands": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["command_id", "type", "causation_id", "actor"],
                    "properties": {
                        "command_id": {"type": "string"},
                        "type": {"type": "string"},
                        "causation_id": _TEXT_OR_NULL,
                        "actor": _TEXT_OR_NULL,
                    },
                },
            },
            "nodes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "kind", "id", "cause", "parent", "name"],
                    "properties": {
                        "key": {"type": "string"},
                        "kind": {"enum": ["command", "event", "message"]},
                        "id": {"type": "string"},
                        "cause": _TEXT_OR_NULL,
                        "parent": _TEXT_OR_NULL,
                        "name": {"type": "string"},
                        "stream": _TEXT_OR_NULL,
                        "position": {"type": ["integer", "null"]},
                        "at": {"type": ["string", "null"], "format": "date-time"},
                        "actor": _TEXT_OR_NULL,
                    },
                },
            },
            "mermaid": {"type": "string", "pattern": "^sequenceDiagram"},
        },
    }
}

MODULE = ServerModule(
    "trace",
    routes=[Route(f"/api/trace/{{correlation_id:{NAME}}}", get_trace, methods=["GET"])],
    schemas=SCHEMAS,
    openapi={
        "/api/trace/{correlation_id}": {
            "get": {
                "summary": "The causal chain of a correlation id, as JSON and as Mermaid text",
                "operationId": "getTrace",
                "parameters": [
                    {
                        "name": "correlation_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "Events in causation order (root first), messages, diagram",
                        "content": json_content(ref("Trace")),
                    },
                    **errors(404),
                },
            }
        }
    },
)
