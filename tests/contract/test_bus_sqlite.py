"""The message bus contract on the SQLite backend (durable: several handles share a file)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from eventflux.bus import MessageBus, open_bus
from eventflux.testing.bus_contract import DurableBusContract, MessageBusContract


class TestSQLiteBus(MessageBusContract, DurableBusContract):
    async def make_bus(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> MessageBus:
        query = "?" + urlencode(options) if options else ""
        return await open_bus(f"sqlite:///{tmp_path}/bus.db{query}")
