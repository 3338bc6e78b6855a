"""The example backend of docs/backends.md passes the whole store contract suite,
through the public backend interface alone."""

from __future__ import annotations

from pathlib import Path

from tests.store.dict_backend import DictStoreBackend

from eventflux import EventStore
from eventflux.testing.store_contract import EventStoreContract


class TestDictBackend(EventStoreContract):
    async def make_store(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> EventStore:
        # the options are the facade's limits (max_event_bytes, max_append_...)
        limits = {name: int(value) for name, value in (options or {}).items()}
        return EventStore(DictStoreBackend(), **limits)
