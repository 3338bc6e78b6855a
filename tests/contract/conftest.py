"""Fixtures of the contract tests that need a real server (PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.servers.postgres import pg_server

__all__ = ["pg_server"]
