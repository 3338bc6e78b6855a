"""Where the saga suites keep their store and bus: one mixin per set-up, for
the contract and for the outage tests alike."""

from __future__ import annotations

from pathlib import Path

from eventflux.bus import MessageBus, open_bus
from eventflux.store import EventStore, open_store


class InMemory:
    """The in-memory store and bus: one process's objects (a restart reopens
    the same ones)."""

    durable = False
    _backends: tuple[EventStore, MessageBus]

    async def open_backends(
        self, tmp_path: Path, *, reopen: bool = False
    ) -> tuple[EventStore, MessageBus]:
        if reopen:
            return self._backends
        self._backends = (await open_store("memory://"), await open_bus("memory://"))
        return self._backends


class OnSQLite:
    """The SQLite store and bus: files shared by the processes of one machine."""

    async def open_backends(
        self, tmp_path: Path, *, reopen: bool = False
    ) -> tuple[EventStore, MessageBus]:
        store = await open_store(f"sqlite:///{tmp_path}/events.db")
        bus = await open_bus(f"sqlite:///{tmp_path}/bus.db")
        return store, bus
