"""The demos' projections run on every read model (the ``place`` fixture)."""

from __future__ import annotations

from tests.cqrs._places import place
from tests.servers.postgres import pg_server

__all__ = ["pg_server", "place"]
