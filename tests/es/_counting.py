"""A store wrapper for the es tests: counts a repository's stream reads, its
appends and the appends refused for a stale version."""

from __future__ import annotations

from typing import Any

from eventflux import ConcurrencyError, EventStore


class CountingStore:
    """Counts the stream reads and the appends a repository makes (wraps the real store)."""

    def __init__(self, store: EventStore) -> None:
        self.reads = 0
        self.appends = 0
        self.conflicts = 0
        self._store = store

    def read(self, stream: str, **kw: Any) -> Any:
        self.reads += 1
        return self._store.read(stream, **kw)

    async def append(self, *args: Any, **kw: Any) -> Any:
        return await self._counted(self._store.append(*args, **kw))

    async def append_many(self, *args: Any, **kw: Any) -> Any:
        return await self._counted(self._store.append_many(*args, **kw))

    async def _counted(self, appending: Any) -> Any:
        self.appends += 1
        try:
            return await appending
        except ConcurrencyError:
            self.conflicts += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
