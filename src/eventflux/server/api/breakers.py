"""``GET /api/breakers``: the circuit breakers of the server's process (those the
served Apps create and use), with their state.

``{"breakers": [{"name", "state", "retry_after", "failures",
"failure_threshold", "failure_rate", "reset_timeout", "changed_at",
"reason", "groups"}]}``: ``state`` is ``closed``, ``open`` or ``half_open``;
``retry_after`` the seconds until an open breaker lets a trial call through;
``failures`` the consecutive failures counted now; ``changed_at`` and
``reason`` describe the last state change (null before the first);
``groups`` the served Apps' consumer groups that subscribe with it.
Breakers are found through :func:`eventflux.resilience.registered_breakers`:
every breaker joins that registry when it is created.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...resilience import CircuitBreaker, registered_breakers
from ..context import context_of
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import errors, json_content, ref
from ..tokens import Scope

__all__ = ["MODULE", "breaker_json", "list_breakers"]


def breaker_json(breaker: CircuitBreaker, groups: list[str]) -> dict[str, Any]:
    """A circuit breaker as the API shows it."""
    change = breaker.last_change
    return {
        "name": breaker.name,
        "state": breaker.state.value,
        "retry_after": round(breaker.retry_after, 3),
        "failures": breaker.failures,
        "failure_threshold": breaker.failure_threshold,
        "failure_rate": breaker.failure_rate,
        "reset_timeout": breaker.reset_timeout,
        "changed_at": change.at if change is not None else None,
        "reason": change.reason if change is not None else None,
        "groups": groups,
    }


async def list_breakers(request: Request) -> Response:
    """Every circuit breaker of this process, by name."""
    ctx = context_of(request)
    await ctx.auth.require(request, Scope.READ)
    used_by = ctx.apps.breaker_groups()
    return json_response(
        {"breakers": [breaker_json(b, used_by.get(id(b), [])) for b in registered_breakers()]}
    )


BREAKER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "state",
        "retry_after",
        "failures",
        "failure_threshold",
        "failure_rate",
        "reset_timeout",
        "changed_at",
        "reason",
        "groups",
    ],
    "properties": {
        "name": {"type": "string"},
        "state": {"enum": ["closed", "open", "half_open"]},
        "retry_after": {"type": "number", "minimum": 0},
        "failures": {"type": "integer", "minimum": 0},
        "failure_threshold": {"type": ["integer", "null"], "minimum": 1},
        "failure_rate": {"type": ["number", "null"]},
        "reset_timeout": {"type": "number", "minimum": 0},
        "changed_at": {"type": ["string", "null"], "format": "date-time"},
        "reason": {"type": ["string", "null"]},
        "groups": {"type": "array", "items": {"type": "string"}},
    },
}

MODULE = ServerModule(
    "breakers",
    routes=[Route("/api/breakers", list_breakers, methods=["GET"])],
    schemas={"Breaker": BREAKER_SCHEMA},
    openapi={
        "/api/breakers": {
            "get": {
                "summary": "Circuit breakers and their states",
                "operationId": "listBreakers",
                "responses": {
                    "200": {
                        "description": "Every circuit breaker of the server's process, by name",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["breakers"],
                                "properties": {
                                    "breakers": {"type": "array", "items": ref("Breaker")}
                                },
                            }
                        ),
                    },
                    **errors(),
                },
            }
        }
    },
)
