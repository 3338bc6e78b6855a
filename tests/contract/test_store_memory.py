"""The event store contract on the in-memory backend."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from eventflux import EventStore, open_store
from eventflux.testing.store_contract import EventStoreContract


class TestMemoryStore(EventStoreContract):
    async def make_store(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> EventStore:
        query = "?" + urlencode(options) if options else ""
        return await open_store("memory://" + query)
