"""``GET /metrics``: Prometheus text (a ``read`` token).

Metrics are turned on when the server starts
(:func:`eventflux.observability.metrics.enable_metrics`). The counters and
histograms move as the store, the bus and the handlers of this process work;
the gauges that describe shared state (group lag, in flight, dead letters,
projection lag, breaker states, saga counts) are read fresh at each scrape,
so any server process answers for the whole system.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...exceptions import EventfluxError
from ...observability.metrics import Metrics, enable_metrics, render_latest
from ...resilience import registered_breakers
from ..context import ServerContext, context_of
from ..module import ServerModule
from ..openapi import errors
from ..tokens import Scope
from .sagas import saga_counts

__all__ = ["MODULE", "metrics", "refresh_gauges"]

log = logging.getLogger("eventflux.server")


async def refresh_gauges(ctx: ServerContext, metrics: Metrics) -> None:
    """Set the gauges of shared state from the bus, the projections, the
    breakers and the sagas, as they are now."""
    for group in await ctx.bus.groups():
        metrics.group_lag.labels(group.name).set(group.pending + group.in_flight)
        metrics.in_flight.labels(group.name).set(group.in_flight)
        metrics.dead_letters.labels(group.name).set(group.dead_letters)
    for name, handle in ctx.apps.projections.items():
        try:
            status = await (await handle.instance()).status(ctx.store)
        except (EventfluxError, OSError) as e:
            log.warning("metrics: projection %r has no status: %s", name, e)
            continue
        metrics.projection_lag.labels(name).set(status.lag)
    for breaker in registered_breakers():
        metrics.breaker(breaker.name, breaker.state.value)
    for (saga, state), count in (await saga_counts(ctx)).items():
        metrics.sagas.labels(saga, state).set(count)


async def metrics(request: Request) -> Response:
    """The Prometheus exposition of this process's metrics."""
    ctx = context_of(request)
    await ctx.auth.require(request, Scope.READ)
    await refresh_gauges(ctx, enable_metrics())
    body, content_type = render_latest()
    return Response(body, media_type=content_type)


async def _enable(ctx: ServerContext) -> None:
    enable_metrics()


_TEXT: dict[str, Any] = {"text/plain": {"schema": {"type": "string"}}}

MODULE = ServerModule(
    "metrics",
    routes=[Route("/metrics", metrics, methods=["GET"])],
    on_startup=_enable,
    openapi={
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (a read token)",
                "operationId": "metrics",
                "responses": {
                    "200": {"description": "Prometheus text exposition", "content": _TEXT},
                    **errors(),
                },
            }
        }
    },
)
