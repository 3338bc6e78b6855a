"""The event store contract on the SQLite backend."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from eventflux import EventStore, open_store
from eventflux.testing.store_contract import EventStoreContract


class TestSQLiteStore(EventStoreContract):
    _last_file: Path | None = None

    async def make_store(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> EventStore:
        if reopen and self._last_file is not None:
            path = self._last_file
        else:
            path = tmp_path / "events.db"
            n = 1
            while path.exists():  # a fresh store for every call that is not a reopen
                n += 1
                path = tmp_path / f"events-{n}.db"
        self._last_file = path
        query = "?" + urlencode(options) if options else ""
        return await open_store(f"sqlite:///{path}{query}")
