"""The HTTP API, one module per area; :func:`core_modules` lists them in route order."""

from __future__ import annotations

from ..module import ServerModule
from . import dlq, health, publish, read_all, streams, ws

__all__ = ["core_modules"]


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
