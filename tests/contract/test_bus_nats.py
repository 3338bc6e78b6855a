"""The message bus contract on the NATS JetStream backend.

Every test gets fresh streams (``?stream=T...``) on the NATS server the session
shares (started by ``tests/servers/nats.py``); ``reopen=True`` opens another
handle on the same streams, as another process would. The streams are deleted
after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import nats
import pytest
import pytest_asyncio
from tests.servers.nats import NatsServer, nats_server

from eventflux.bus import MessageBus, open_bus
from eventflux.testing.bus_contract import DurableBusContract, MessageBusContract

__all__ = ["nats_server"]

pytestmark = pytest.mark.nats


class TestNatsBus(MessageBusContract, DurableBusContract):
    server: NatsServer
    _streams: list[str]

    @pytest_asyncio.fixture(autouse=True)
    async def _server(self, nats_server: NatsServer) -> AsyncIterator[None]:
        self.server = nats_server
        self._streams = []
        yield
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            for name in self._streams:
                for stream in (name, f"{name}_META"):
                    try:
                        await js.delete_stream(stream)
                    except nats.js.errors.NotFoundError:
                        pass
        finally:
            await nc.close()

    async def make_bus(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> MessageBus:
        if not reopen or not self._streams:
            self._streams.append("T" + uuid.uuid4().hex[:12])
        query = urlencode({"stream": self._streams[-1], **(options or {})})
        return await open_bus(f"{self.server.url}?{query}")
