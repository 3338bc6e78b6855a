"""The HTTP API, one module per area; :func:`core_modules` lists them in route order."""

from __future__ import annotations

from ..module import ServerModule
from . import dlq, health, publish, read_all, streams, ws

__all__ = ["core_modules"]


def core_modules() -> list[ServerModule]:
    """The API areas that stand on the store and the bus alone."""
    return [
        health.MODULE,
        streams.MODULE,
        read_all.MODULE,
        ws.MODULE,
        publish.MODULE,
        dlq.MODULE,
    ]
