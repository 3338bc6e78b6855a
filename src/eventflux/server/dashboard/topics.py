"""What the dashboard's live connection can carry besides events and rates: the
consumer groups, the projections (with rebuild progress) and the circuit
breakers, as the API shows them, sampled at most once a second per prefix
and shared by every page that follows them.

Example::

    GET /live?topics=groups,projections     # event: groups, event: projections
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from ...resilience import registered_breakers
from ..api.breakers import breaker_json
from ..api.groups import group_json, visible_groups
from ..api.projections import projection_json
from ..auth import Principal
from ..context import ServerContext
from ..errors import ApiError

__all__ = ["TOPICS", "TopicSampler", "parse_topics"]

_FRESH: Final = 0.9

Fetch = Callable[[ServerContext, Principal], Awaitable[Any]]


async def _groups(ctx: ServerContext, principal: Principal) -> Any:
    owners = ctx.apps.group_apps()
    return [group_json(g, owners.get(g.name, [])) for g in await visible_groups(ctx, principal)]


async def _projections(ctx: ServerContext, principal: Principal) -> Any:
    handles = [ctx.apps.projections[n] for n in sorted(ctx.apps.projections)]
    return [await projection_json(ctx, h) for h in handles]


async def _breakers(ctx: ServerContext, principal: Principal) -> Any:
    used_by = ctx.apps.breaker_groups()
    return [breaker_json(b, used_by.get(id(b), [])) for b in registered_breakers()]


#: topic name -> how to read it
TOPICS: Final[dict[str, Fetch]] = {
    "groups": _groups,
    "projections": _projections,
    "breakers": _breakers,
}


def parse_topics(raw: str | None) -> tuple[str, ...]:
    """``topics=groups,projections`` -> the known topic names (400 for others)."""
    if not raw:
        return ()
    names = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    unknown = [n for n in names if n not in TOPICS]
    if unknown:
        raise ApiError(
            400,
            "BadRequest",
            f"unknown live topic {unknown[0]!r}; known: {', '.join(TOPICS)}"[:300],
            parameter="topics",
        )
    return names


@dataclass
class TopicSampler:
    """Reads topics at most every ``_FRESH`` seconds per (topic, prefix)."""

    ctx: ServerContext
    _cache: dict[tuple[str, str], tuple[float, Any]] = field(default_factory=dict)

    async def read(self, topic: str, principal: Principal) -> Any:
        key = (topic, principal.prefix)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < _FRESH:
            return cached[1]
        value = await TOPICS[topic](self.ctx, principal)
        self._cache[key] = (now, value)
        return value
