"""The saga contract on the SQLite store and the SQLite bus (files shared by
the processes of one machine)."""

from __future__ import annotations

from pathlib import Path

from eventflux.bus import MessageBus, open_bus
from eventflux.store import EventStore, open_store
from eventflux.testing.saga_contract import SagaContract


class TestSagasOnSQLite(SagaContract):
    async def open_backends(
        self, tmp_path: Path, *, reopen: bool = False
    ) -> tuple[EventStore, MessageBus]:
        store = await open_store(f"sqlite:///{tmp_path}/events.db")
        bus = await open_bus(f"sqlite:///{tmp_path}/bus.db")
        return store, bus
