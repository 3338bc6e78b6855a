"""``GET /api/sagas?name=&state=&limit=``: saga instances, from the store.

``{"sagas": [{"saga", "key", "status", "finished", "outcome", "state",
"deadlines", ...}]}``: each instance as its view's ``as_dict()`` gives it
(``status`` is ``open``, or the outcome of a finished instance; ``state`` its
persisted state; ``deadlines`` the pending ones, name -> time). ``name=``
keeps one saga's instances, ``state=`` those whose status is ``open``,
``finished`` or an outcome (``completed``...). A saga's state belongs to no
stream, so a token with a prefix sees no instance.

Where instances come from: ``eventflux.sagas.SagaAdmin`` reads them from the
store (it needs no saga class, so a server that runs no saga sees those that
worker processes run). An installation without ``eventflux.sagas`` answers
an empty list. :func:`saga_instances` is the one place that reads them.
"""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import ServerContext, context_of
from ..errors import ApiError
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import errors, json_content, limit_parameter, query, ref
from ..params import limit_param, str_param
from ..tokens import Scope

__all__ = ["MODULE", "list_sagas", "saga_counts", "saga_instances", "sagas_available"]

#: the most instances ``/metrics`` counts
COUNTED: Final = 10_000


def _admin_class() -> Any:
    """``eventflux.sagas.SagaAdmin``, or None in an installation without sagas."""
    try:
        module = importlib.import_module("eventflux.sagas")
    except ModuleNotFoundError as e:
        if e.name in ("eventflux.sagas", "eventflux"):
            return None
        raise
    return getattr(module, "SagaAdmin", None)


def sagas_available() -> bool:
    """True when this installation has sagas (``eventflux.sagas``)."""
    return _admin_class() is not None


async def saga_instances(
    ctx: ServerContext, name: str | None = None, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The saga instances in the store (of saga ``name``, in ``state``), as JSON."""
    admin_class = _admin_class()
    if admin_class is None:
        return []
    views = await admin_class(ctx.store, ctx.bus).instances(name, state=state, limit=limit)
    rows: list[dict[str, Any]] = [view.as_dict() for view in views]
    return rows


async def saga_counts(ctx: ServerContext) -> dict[tuple[str, str], int]:
    """(saga name, status) -> how many instances (for ``/metrics``)."""
    rows = await saga_instances(ctx, limit=COUNTED)
    return dict(Counter((str(r["saga"]), str(r["status"])) for r in rows))


def _text(request: Request, name: str) -> str | None:
    value = str_param(request, name)
    if value is None or value == "":
        return None
    if len(value) > 255 or not value.isprintable():
        raise ApiError(
            400,
            "BadRequest",
            f"query parameter {name!r} must be 1 to 255 printable characters",
            parameter=name,
        )
    return value


async def list_sagas(request: Request) -> Response:
    """Saga instances, filtered by saga name and state."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    name = _text(request, "name")
    state = _text(request, "state")
    limit = limit_param(request)
    rows = [] if principal.prefix else await saga_instances(ctx, name, state, limit)
    return json_response({"sagas": rows})


_TEXT_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}

SAGA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["saga", "key", "status", "finished", "outcome", "state", "deadlines"],
    "properties": {
        "saga": {"type": "string"},
        "key": {"type": "string"},
        "status": {"type": "string"},
        "finished": {"type": "boolean"},
        "outcome": _TEXT_OR_NULL,
        "state": {"type": "object", "additionalProperties": True},
        "deadlines": {
            "type": "object",
            "additionalProperties": {"type": "string", "format": "date-time"},
        },
        "version": {"type": "integer", "minimum": 0},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "correlation_id": _TEXT_OR_NULL,
        "compensations": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": True,
}

MODULE = ServerModule(
    "sagas",
    routes=[Route("/api/sagas", list_sagas, methods=["GET"])],
    schemas={"Saga": SAGA_SCHEMA},
    openapi={
        "/api/sagas": {
            "get": {
                "summary": "Saga instances",
                "operationId": "listSagas",
                "parameters": [
                    query("name", {"type": "string"}, "Only the instances of this saga."),
                    query(
                        "state",
                        {"type": "string"},
                        "Only instances whose status is this: open, finished or an outcome.",
                    ),
                    limit_parameter(),
                ],
                "responses": {
                    "200": {
                        "description": "Saga instances, by saga name and key",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["sagas"],
                                "properties": {"sagas": {"type": "array", "items": ref("Saga")}},
                            }
                        ),
                    },
                    **errors(),
                },
            }
        }
    },
)
