"""The saga contract on the in-memory store and bus (one process's objects)."""

from __future__ import annotations

from pathlib import Path

from eventflux.bus import MessageBus, open_bus
from eventflux.store import EventStore, open_store
from eventflux.testing.saga_contract import SagaContract


class TestSagasInMemory(SagaContract):
    durable = False

    async def open_backends(
        self, tmp_path: Path, *, reopen: bool = False
    ) -> tuple[EventStore, MessageBus]:
        if reopen:
            return self._backends
        self._backends = (await open_store("memory://"), await open_bus("memory://"))
        return self._backends
