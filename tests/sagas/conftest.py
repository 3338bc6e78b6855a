"""Fixtures of the saga tests that need real servers (PostgreSQL, NATS)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.servers.nats import nats_cluster, nats_server
from tests.servers.postgres import pg_server

__all__ = ["nats_cluster", "nats_server", "pg_server"]
