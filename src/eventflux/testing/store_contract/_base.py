"""Shared fixtures and helpers of the event store contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from ...events import NewEvent, RecordedEvent
from ...store import EventStore


def ev(type: str = "Happened", **data: Any) -> NewEvent:
    """A small NewEvent with ``data`` (helper for the suites)."""
    return NewEvent(type, data)


async def collect(it: AsyncIterator[RecordedEvent]) -> list[RecordedEvent]:
    return [e async for e in it]


class ContractBase:
    """Fixtures every contract group uses. Subclasses implement ``make_store``."""

    async def make_store(
        self, tmp_path: Path, options: dict[str, str] | None = None, *, reopen: bool = False
    ) -> EventStore:
        """Open a store for one test. ``reopen=True`` opens another handle on the
        storage of the previous call in this test (durable backends only)."""
        raise NotImplementedError

    @pytest_asyncio.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        s = await self.make_store(tmp_path)
        try:
            yield s
        finally:
            await s.close()
