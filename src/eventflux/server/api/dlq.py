"""Dead letters: ``GET /api/dlq?group=&subject=&limit=`` -> ``{"dead_letters": [...]}``,
``POST /api/dlq/{id}/retry`` -> ``{"retried": id}`` (admin),
``DELETE /api/dlq?group=`` -> ``{"purged": n}`` (admin).

A token with a prefix sees the letters whose subject it covers; it may purge a
group only when the group holds no letter outside its prefix.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...bus import DeadLetter, MessageBus
from ..auth import Principal
from ..context import context_of
from ..errors import ApiError
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import errors, json_content, limit_parameter, query, ref
from ..params import limit_param, str_param
from ..routing import NAME
from ..tokens import Scope
from ..wire import letter_json

__all__ = [
    "MODULE",
    "find_letter",
    "list_letters",
    "purge_letters",
    "retry_letter",
    "visible_letters",
]


async def visible_letters(
    bus: MessageBus,
    principal: Principal,
    group: str | None,
    subject: str | None,
    limit: int | None,
) -> list[DeadLetter]:
    """The dead letters the caller may see, oldest first."""
    if not principal.prefix:
        return await bus.dlq.list(group, subject, limit=limit)
    letters = [
        letter for letter in await bus.dlq.list(group, subject) if principal.covers(letter.subject)
    ]
    return letters if limit is None else letters[:limit]


async def find_letter(bus: MessageBus, letter_id: str) -> DeadLetter | None:
    """The dead letter with this id, or None."""
    for letter in await bus.dlq.list():
        if letter.id == letter_id:
            return letter
    return None


async def list_letters(request: Request) -> Response:
    """Dead letters, oldest first, with their error and payload."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    group = str_param(request, "group")
    subject = str_param(request, "subject")
    limit = limit_param(request)
    letters = await visible_letters(ctx.bus, principal, group, subject, limit)
    return json_response({"dead_letters": [letter_json(x) for x in letters]})


def _letter_id(raw: str) -> str:
    if not 1 <= len(raw) <= 255 or not raw.isprintable():
        raise ApiError(404, "DeadLetterNotFoundError", f"no dead letter with id {raw!r}"[:300])
    return raw


async def retry_letter(request: Request) -> Response:
    """Send a dead letter back to its group with a fresh delivery budget."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.ADMIN)
    letter_id = _letter_id(request.path_params["id"])
    if principal.prefix:
        letter = await find_letter(ctx.bus, letter_id)
        if letter is not None:
            principal.check_name(letter.subject, "subject")
    await ctx.bus.dlq.retry(letter_id)  # DeadLetterNotFoundError: 404
    return json_response({"retried": letter_id})


async def purge_letters(request: Request) -> Response:
    """Delete the dead letters (of one group)."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.ADMIN)
    group = str_param(request, "group")
    if principal.prefix:
        if group is None:
            raise ApiError(
                403, "Forbidden", "a token with a prefix purges one group at a time (?group=)"
            )
        outside = [x for x in await ctx.bus.dlq.list(group) if not principal.covers(x.subject)]
        if outside:
            raise ApiError(
                403,
                "Forbidden",
                f"group {group!r} holds dead letters outside this token's prefix "
                f"{principal.prefix!r}",
            )
    purged = await ctx.bus.dlq.purge(group)
    return json_response({"purged": purged})


_GROUP: dict[str, Any] = query("group", {"type": "string"}, "Only this consumer group.")

MODULE = ServerModule(
    "dlq",
    routes=[
        Route("/api/dlq", list_letters, methods=["GET"]),
        Route("/api/dlq", purge_letters, methods=["DELETE"]),
        Route(f"/api/dlq/{{id:{NAME}}}/retry", retry_letter, methods=["POST"]),
    ],
    openapi={
        "/api/dlq": {
            "get": {
                "summary": "List dead letters",
                "operationId": "listDeadLetters",
                "parameters": [
                    _GROUP,
                    query("subject", {"type": "string"}, "A subject or pattern (orders.*)."),
                    limit_parameter(),
                ],
                "responses": {
                    "200": {
                        "description": "Dead letters, oldest first",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["dead_letters"],
                                "properties": {
                                    "dead_letters": {"type": "array", "items": ref("DeadLetter")}
                                },
                            }
                        ),
                    },
                    **errors(),
                },
            },
            "delete": {
                "summary": "Purge dead letters (admin)",
                "operationId": "purgeDeadLetters",
                "parameters": [_GROUP],
                "responses": {
                    "200": {
                        "description": "How many were deleted",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["purged"],
                                "properties": {"purged": {"type": "integer", "minimum": 0}},
                            }
                        ),
                    },
                    **errors(),
                },
            },
        },
        "/api/dlq/{id}/retry": {
            "post": {
                "summary": "Retry a dead letter (admin)",
                "operationId": "retryDeadLetter",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "Sent back to its group",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["retried"],
                                "properties": {"retried": {"type": "string"}},
                            }
                        ),
                    },
                    **errors(404),
                },
            }
        },
    },
)
