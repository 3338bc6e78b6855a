"""The dashboard: server-rendered pages (Jinja2), htmx and Mermaid vendored."""

from __future__ import annotations

from collections.abc import Sequence

from ..module import ServerModule
from ..settings import ServerSettings

__all__ = ["dashboard_module"]


def dashboard_module(areas: Sequence[ServerModule], settings: ServerSettings) -> ServerModule:
    """The dashboard's pages, with a navigation link for each area that has one."""
    del areas, settings
    return ServerModule("dashboard")
