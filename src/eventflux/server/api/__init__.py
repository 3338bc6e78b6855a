"""The HTTP API, one module per area: :func:`core_modules` stand on the store
and the bus alone, :func:`app_modules` answer from the served Apps too
(groups, projections, breakers, sagas, traces, metrics)."""

from __future__ import annotations

from ..module import ServerModule
from . import (
    breakers,
    dlq,
    groups,
    health,
    metrics,
    projections,
    publish,
    read_all,
    sagas,
    streams,
    trace,
    ws,
)

__all__ = ["app_modules", "core_modules"]


def core_modules() -> list[ServerModule]:
    """The API areas that stand on the store and the bus alone, the busiest
    routes first (the router tries routes in order)."""
    return [
        streams.MODULE,
        publish.MODULE,
        read_all.MODULE,
        ws.MODULE,
        dlq.MODULE,
        health.MODULE,
    ]


def app_modules() -> list[ServerModule]:
    """The API areas that answer from the served Apps as well (every server has
    them; with no App they show what the bus and the process hold)."""
    return [
        groups.MODULE,
        projections.MODULE,
        breakers.MODULE,
        sagas.MODULE,
        trace.MODULE,
        metrics.MODULE,
    ]
