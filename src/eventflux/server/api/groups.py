"""``GET /api/groups``: every consumer group of the bus, with its subjects,
live members, pending and in-flight messages, dead letters and lag.

``{"groups": [{"name", "subjects", "members", "pending", "in_flight",
"dead_letters", "lag", "lag_seconds", "apps"}]}``: ``lag`` counts the
messages the group has not handled yet (pending and in flight),
``lag_seconds`` is the age of the oldest of them (null when none),
``members`` is null where the bus cannot tell, ``apps`` names the served
Apps that subscribe in the group. A token with a prefix sees the groups
whose every subject starts with it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...bus import GroupInfo
from ..auth import Principal, pattern_head
from ..context import ServerContext, context_of
from ..jsonio import json_response
from ..module import ServerModule
from ..openapi import errors, json_content, ref
from ..tokens import Scope

__all__ = ["MODULE", "group_json", "list_groups", "visible_groups"]


def _covered(principal: Principal, group: GroupInfo) -> bool:
    return all(pattern_head(p).startswith(principal.prefix) for p in group.patterns)


async def visible_groups(ctx: ServerContext, principal: Principal) -> list[GroupInfo]:
    """The consumer groups the caller may see, by name."""
    groups = await ctx.bus.groups()
    if principal.prefix:
        groups = [g for g in groups if _covered(principal, g)]
    return groups


def group_json(group: GroupInfo, apps: list[str]) -> dict[str, Any]:
    """A consumer group as the API shows it."""
    return {
        "name": group.name,
        "subjects": list(group.patterns),
        "members": group.members,
        "pending": group.pending,
        "in_flight": group.in_flight,
        "dead_letters": group.dead_letters,
        "lag": group.pending + group.in_flight,
        "lag_seconds": (
            None if group.oldest_pending_age is None else round(group.oldest_pending_age, 3)
        ),
        "apps": apps,
    }


async def list_groups(request: Request) -> Response:
    """Every consumer group the caller may see."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    owners = ctx.apps.group_apps()
    groups = await visible_groups(ctx, principal)
    return json_response({"groups": [group_json(g, owners.get(g.name, [])) for g in groups]})


_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}

GROUP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "subjects",
        "members",
        "pending",
        "in_flight",
        "dead_letters",
        "lag",
        "lag_seconds",
        "apps",
    ],
    "properties": {
        "name": {"type": "string"},
        "subjects": {"type": "array", "items": {"type": "string"}},
        "members": {"type": ["integer", "null"], "minimum": 0},
        "pending": _COUNT,
        "in_flight": _COUNT,
        "dead_letters": _COUNT,
        "lag": _COUNT,
        "lag_seconds": {"type": ["number", "null"], "minimum": 0},
        "apps": {"type": "array", "items": {"type": "string"}},
    },
}

MODULE = ServerModule(
    "groups",
    routes=[Route("/api/groups", list_groups, methods=["GET"])],
    schemas={"Group": GROUP_SCHEMA},
    openapi={
        "/api/groups": {
            "get": {
                "summary": "Consumer groups: subjects, members, pending, in flight, dead letters",
                "operationId": "listGroups",
                "responses": {
                    "200": {
                        "description": "Every consumer group, by name",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["groups"],
                                "properties": {"groups": {"type": "array", "items": ref("Group")}},
                            }
                        ),
                    },
                    **errors(),
                },
            }
        }
    },
)
