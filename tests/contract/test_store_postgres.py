"""The event store contract on the PostgreSQL backend.

Every test gets a fresh, empty store: its own PostgreSQL schema
(``?schema=t_...``) on the server the session shares.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from tests.servers.postgres import PostgresServer

from eventflux import EventStore, open_store
from eventflux.testing.store_contract import EventStoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(EventStoreContract):
    pg: PostgresServer

    @pytest.fixture(autouse=True)
    def _server(self, pg_server: PostgresServer) -> None:
        self.pg = pg_server

    async def make_store(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> EventStore:
        if not reopen or not hasattr(self, "_schema"):
            self._schema = "t_" + uuid.uuid4().hex[:16]
        query = urlencode({"schema": self._schema, **(options or {})})
        return await open_store(self.pg.url() + "?" + query)
