"""Fixtures of the orders demo's tests: the servers the cluster test starts."""

from __future__ import annotations

from tests.servers.nats import nats_cluster
from tests.servers.postgres import pg_server

__all__ = ["nats_cluster", "pg_server"]
