"""The saga contract on PostgreSQL and NATS JetStream: the store in a fresh
schema and the bus on fresh streams of the servers the session shares."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import pytest_asyncio
from tests.servers.nats import NatsServer
from tests.servers.postgres import PostgresServer

from eventflux.bus import MessageBus, open_bus
from eventflux.store import EventStore, open_store
from eventflux.testing.saga_contract import SagaContract

pytestmark = [pytest.mark.postgres, pytest.mark.nats]


class TestSagasOnPostgresAndNats(SagaContract):
    @pytest_asyncio.fixture(autouse=True)
    async def _servers(
        self, pg_server: PostgresServer, nats_server: NatsServer
    ) -> AsyncIterator[None]:
        self.pg = pg_server
        self.nats = nats_server
        self.schema = "t_" + uuid.uuid4().hex[:16]
        self.stream = "S" + uuid.uuid4().hex[:12]
        yield
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            for name in (self.stream, f"{self.stream}_META"):
                try:
                    await js.delete_stream(name)
                except nats.js.errors.NotFoundError:
                    pass
        finally:
            await nc.close()

    async def open_backends(
        self, tmp_path: Path, *, reopen: bool = False
    ) -> tuple[EventStore, MessageBus]:
        store = await open_store(self.pg.url() + f"?schema={self.schema}")
        bus = await open_bus(f"{self.nats.url}?stream={self.stream}")
        return store, bus
