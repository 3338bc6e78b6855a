"""The served Apps' projections: ``GET /api/projections`` (status and lag) and
``POST /api/projections/{name}/rebuild`` (admin: replay every event into a
fresh read model beside the live one, then swap it in).

A projection as JSON: ``{"name", "app", "status", "checkpoint", "head",
"lag", "rebuild", "error"}``; ``status`` is ``running`` (kept up to date by
the App's workers in this server), ``stopped`` (not run here: ``--no-workers``,
its workers run elsewhere) or ``rebuilding``; ``rebuild`` is the latest
rebuild (``{"state": "running"|"done"|"failed", "position", "head",
"replayed", "started_at", "finished_at", "error"}``) or null.

A rebuild runs in the background; the request waits for it up to ``wait``
seconds (default 10, 0 to 60) and answers 200 when it ended (``state`` says
how) or 202 while it still runs (follow it with ``GET /api/projections``). A
second rebuild of a projection while one runs is a 409. Rebuilding needs an
``admin`` token without a prefix (a read model is built from every stream).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...exceptions import EventfluxError, StoreClosedError, StoreUnavailableError
from ..context import ServerContext, context_of
from ..errors import ApiError
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import errors, json_content, query, ref
from ..params import str_param
from ..routing import NAME
from ..served import ProjectionHandle
from ..tokens import Scope

__all__ = ["MODULE", "list_projections", "projection_json", "rebuild_projection"]

DEFAULT_WAIT: Final = 10.0
MAX_WAIT: Final = 60.0


async def projection_json(ctx: ServerContext, handle: ProjectionHandle) -> dict[str, Any]:
    """A projection's status as the API shows it."""
    row: dict[str, Any] = {
        "name": handle.name,
        "app": handle.app.name,
        "status": "rebuilding" if handle.rebuilding else "running" if handle.running else "stopped",
        "checkpoint": None,
        "head": None,
        "lag": None,
        "rebuild": handle.job.as_dict() if handle.job is not None else None,
        "error": None,
    }
    try:
        status = await (await handle.instance()).status(ctx.store)
    except (StoreUnavailableError, StoreClosedError):
        raise  # the event store is down: 503 for the whole answer
    except (EventfluxError, OSError) as e:  # its read model cannot be read: say so, go on
        row["error"] = f"{type(e).__name__}: {e}"
        return row
    row.update(checkpoint=status.checkpoint, head=status.head, lag=status.lag)
    return row


async def list_projections(request: Request) -> Response:
    """Every projection of the served Apps, by name."""
    ctx = context_of(request)
    await ctx.auth.require(request, Scope.READ)
    handles = [ctx.apps.projections[name] for name in sorted(ctx.apps.projections)]
    return json_response({"projections": [await projection_json(ctx, h) for h in handles]})


def _wait(request: Request) -> float:
    raw = str_param(request, "wait")
    if raw is None:
        return DEFAULT_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_WAIT:  # NaN fails too
        raise ApiError(
            400,
            "BadRequest",
            f"query parameter 'wait' must be a number of seconds from 0 to {MAX_WAIT:g}, "
            f"not {raw!r}"[:300],
            parameter="wait",
        )
    return value


def find_projection(ctx: ServerContext, name: str) -> ProjectionHandle:
    """The served projection called ``name``, else a 404."""
    handle = ctx.apps.projections.get(name)
    if handle is None:
        known = ", ".join(sorted(ctx.apps.projections)) or "none"
        raise ApiError(
            404,
            "UnknownProjectionError",
            f"no served app has a projection {name!r} (served: {known})"[:500],
        )
    return handle


async def rebuild_projection(request: Request) -> Response:
    """Rebuild one projection; 200 when it ended within ``wait``, else 202."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.ADMIN)
    if principal.prefix:
        raise ApiError(
            403,
            "Forbidden",
            "rebuilding a projection replays every stream: it needs an admin token "
            f"without a prefix (this one is limited to {principal.prefix!r})",
            prefix=principal.prefix,
        )
    handle = find_projection(ctx, request.path_params["name"])
    wait = _wait(request)
    if handle.rebuilding:
        assert handle.job is not None
        raise ApiError(
            409,
            "RebuildInProgressError",
            f"projection {handle.name!r} is being rebuilt already; follow it with "
            "GET /api/projections",
            rebuild=handle.job.as_dict(),
        )
    job = handle.start_rebuild(ctx.store)
    assert job.task is not None
    if wait > 0:
        await asyncio.wait({job.task}, timeout=wait)
    return json_response(
        await projection_json(ctx, handle), status=202 if job.state == "running" else 200
    )


_NULLABLE_COUNT: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}
_WHEN: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Rebuild": {
        "type": "object",
        "required": [
            "state",
            "position",
            "head",
            "replayed",
            "started_at",
            "finished_at",
            "error",
        ],
        "properties": {
            "state": {"enum": ["running", "done", "failed"]},
            "position": {"type": "integer", "minimum": 0},
            "head": {"type": "integer", "minimum": 0},
            "replayed": _NULLABLE_COUNT,
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": _WHEN,
            "error": {"type": ["string", "null"]},
        },
    },
    "Projection": {
        "type": "object",
        "required": [
            "name",
            "app",
            "status",
            "checkpoint",
            "head",
            "lag",
            "rebuild",
            "error",
        ],
        "properties": {
            "name": {"type": "string"},
            "app": {"type": "string"},
            "status": {"enum": ["running", "stopped", "rebuilding"]},
            "checkpoint": _NULLABLE_COUNT,
            "head": _NULLABLE_COUNT,
            "lag": _NULLABLE_COUNT,
            "rebuild": {"oneOf": [ref("Rebuild"), {"type": "null"}]},
            "error": {"type": ["string", "null"]},
        },
    },
}

MODULE = ServerModule(
    "projections",
    routes=[
        Route("/api/projections", list_projections, methods=["GET"]),
        Route(f"/api/projections/{{name:{NAME}}}/rebuild", rebuild_projection, methods=["POST"]),
    ],
    schemas=SCHEMAS,
    openapi={
        "/api/projections": {
            "get": {
                "summary": "The served apps' projections: status, checkpoint, lag, rebuild",
                "operationId": "listProjections",
                "responses": {
                    "200": {
                        "description": "Every projection, by name",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["projections"],
                                "properties": {
                                    "projections": {"type": "array", "items": ref("Projection")}
                                },
                            }
                        ),
                    },
                    **errors(),
                },
            }
        },
        "/api/projections/{name}/rebuild": {
            "post": {
                "summary": "Rebuild a projection beside the live one, then swap it in (admin)",
                "operationId": "rebuildProjection",
                "parameters": [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    query(
                        "wait",
                        {"type": "number", "minimum": 0, "maximum": MAX_WAIT},
                        f"Seconds to wait for the end (default {DEFAULT_WAIT:g}).",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The rebuild ended (rebuild.state: done or failed)",
                        "content": json_content(ref("Projection")),
                    },
                    "202": {
                        "description": "The rebuild still runs (rebuild.position of head)",
                        "content": json_content(ref("Projection")),
                    },
                    **errors(404, 409),
                },
            }
        },
    },
)
