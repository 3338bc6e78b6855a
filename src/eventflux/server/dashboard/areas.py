"""The dashboard's pages of the served Apps' areas: consumer groups (members,
lag in messages and seconds, in flight, dead letters), projections (lag,
rebuild with live progress), circuit breakers, saga instances. The tables
are rendered on the server and kept current by the page's live connection.

Example::

    areas = AreaPages(renderer)
    Route("/groups", guarded(renderer, Scope.READ, areas.groups))
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ...exceptions import EventfluxError
from ..api.sagas import saga_instances, sagas_available
from ..auth import Principal
from ..context import context_of
from ..errors import ApiError, error_for
from ..tokens import Scope
from .actions import form
from .render import Renderer
from .topics import TOPICS

__all__ = ["AreaPages"]

_SAGAS_SHOWN = 500


class AreaPages:
    """Page handlers (each gets the request and the checked principal) and the
    rebuild action."""

    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    async def groups(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        rows = await TOPICS["groups"](ctx, principal)
        return await self.r.page(
            request, "groups.html", "/groups", principal=principal, groups=rows,
            live="/live?topics=groups", title="Consumer groups",
        )  # fmt: skip

    async def projections(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        rows = await TOPICS["projections"](ctx, principal)
        return await self.r.page(
            request, "projections.html", "/projections", principal=principal, projections=rows,
            can_rebuild=principal.scope.includes(Scope.ADMIN) and not principal.prefix,
            live="/live?topics=projections", served=[a.name for a in ctx.apps.apps],
            title="Projections",
        )  # fmt: skip

    async def breakers(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        rows = await TOPICS["breakers"](ctx, principal)
        return await self.r.page(
            request, "breakers.html", "/breakers", principal=principal, breakers=rows,
            live="/live?topics=breakers", title="Circuit breakers",
        )  # fmt: skip

    async def sagas(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        name = request.query_params.get("name", "").strip() or None
        state = request.query_params.get("state", "").strip() or None
        rows = [] if principal.prefix else await saga_instances(ctx, name, state, _SAGAS_SHOWN + 1)
        return await self.r.page(
            request, "sagas.html", "/sagas", principal=principal, sagas=rows[:_SAGAS_SHOWN],
            more=len(rows) > _SAGAS_SHOWN, name=name or "", state=state or "",
            available=sagas_available(),
            prefixed=bool(principal.prefix), title="Sagas",
        )  # fmt: skip

    async def rebuild(self, request: Request) -> Response:
        """``POST /projections/rebuild`` (form ``name``): start a rebuild; the
        answer is a line for the page's message area, the progress comes live."""
        ctx = context_of(request)
        fields = await form(request)
        name = fields.get("name", "")
        try:
            principal = await ctx.auth.require(request, Scope.ADMIN)
            if principal.prefix:
                raise ApiError(403, "Forbidden", "rebuilding needs an admin token without a prefix")
            handle = ctx.apps.projections.get(name)
            if handle is None:
                message = f"There is no projection {name!r}."
            elif handle.rebuilding:
                message = f"{name} is being rebuilt already."
            else:
                handle.start_rebuild(ctx.store)
                message = f"Rebuilding {name}: replaying every event beside the live model."
        except (ApiError, EventfluxError) as e:
            error = e if isinstance(e, ApiError) else error_for(e)
            message = error.message if error is not None else "the rebuild failed to start"
        return self.r.fragment("_message.html", message=message, id="projections-message")
