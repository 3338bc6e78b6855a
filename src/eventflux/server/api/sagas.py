"""``GET /api/sagas?name=&state=&limit=``: the saga instances of the served Apps.

``{"sagas": [{"app", "name", "key", "status", "outcome", "state",
"deadlines"}]}``: ``name`` is the saga's name, ``status`` is ``open`` or
``finished``, ``outcome`` what it finished with (null while open), ``state``
its persisted state, ``deadlines`` the pending ones (name -> time). ``state=``
keeps the instances whose status or outcome is that (``open``,
``finished``, ``completed``...); ``name=`` those of one saga. A saga's state
belongs to no stream, so a token with a prefix sees no instance.

Where instances come from: each served App that offers
``await app.saga_instances(name=None, state=None)`` (views with ``name``,
``key``, ``state``, ``finished``, ``outcome`` and ``deadlines``, as
``app.saga_instance`` answers them); with no ``eventflux.sagas`` package, or
no App offering it, the list is empty. :func:`saga_instances` is the one
place that reads them.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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

__all__ = ["MODULE", "SagaRow", "list_sagas", "saga_counts", "saga_instances", "sagas_available"]


@dataclass(frozen=True, slots=True)
class SagaRow:
    """One saga instance as the API and the dashboard show it."""

    app: str
    name: str
    key: str
    finished: bool
    outcome: str | None
    state: Mapping[str, Any]
    deadlines: Mapping[str, datetime]

    @property
    def status(self) -> str:
        return "finished" if self.finished else "open"

    def matches(self, name: str | None, state: str | None) -> bool:
        if name is not None and self.name != name:
            return False
        return state is None or state in (self.status, self.outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "name": self.name,
            "key": self.key,
            "status": self.status,
            "outcome": self.outcome,
            "state": dict(self.state),
            "deadlines": dict(self.deadlines),
        }


def sagas_available() -> bool:
    """True when this installation has sagas (``eventflux.sagas``)."""
    return importlib.util.find_spec("eventflux.sagas") is not None


def _row(app: str, view: Any) -> SagaRow:
    return SagaRow(
        app=app,
        name=str(getattr(view, "name", "") or getattr(view, "saga", "")),
        key=str(view.key),
        finished=bool(view.finished),
        outcome=None if view.outcome is None else str(view.outcome),
        state=dict(view.state or {}),
        deadlines=dict(getattr(view, "deadlines", None) or {}),
    )


async def saga_instances(
    ctx: ServerContext, name: str | None = None, state: str | None = None
) -> list[SagaRow]:
    """The saga instances of the served Apps (by saga name, then key)."""
    if not len(ctx.apps) or not sagas_available():
        return []
    rows: list[SagaRow] = []
    for served in ctx.apps.apps:
        source = getattr(served.app, "saga_instances", None)
        if not callable(source):
            continue
        found = source(name=name, state=state)
        views = await found if inspect.isawaitable(found) else found
        rows += [_row(served.name, v) for v in views]
    rows = [r for r in rows if r.matches(name, state)]
    rows.sort(key=lambda r: (r.name, r.key))
    return rows


async def saga_counts(ctx: ServerContext) -> dict[tuple[str, str], int]:
    """(saga name, status) -> how many instances (for ``/metrics``)."""
    return dict(Counter((r.name, r.status) for r in await saga_instances(ctx)))


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
    rows = [] if principal.prefix else await saga_instances(ctx, name, state)
    return json_response({"sagas": [r.as_dict() for r in rows[:limit]]})


SAGA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["app", "name", "key", "status", "outcome", "state", "deadlines"],
    "properties": {
        "app": {"type": "string"},
        "name": {"type": "string"},
        "key": {"type": "string"},
        "status": {"enum": ["open", "finished"]},
        "outcome": {"type": ["string", "null"]},
        "state": {"type": "object", "additionalProperties": True},
        "deadlines": {
            "type": "object",
            "additionalProperties": {"type": "string", "format": "date-time"},
        },
    },
}

MODULE = ServerModule(
    "sagas",
    routes=[Route("/api/sagas", list_sagas, methods=["GET"])],
    schemas={"Saga": SAGA_SCHEMA},
    openapi={
        "/api/sagas": {
            "get": {
                "summary": "Saga instances of the served apps",
                "operationId": "listSagas",
                "parameters": [
                    query("name", {"type": "string"}, "Only the instances of this saga."),
                    query(
                        "state",
                        {"type": "string"},
                        "Only instances whose status (open, finished) or outcome is this.",
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
