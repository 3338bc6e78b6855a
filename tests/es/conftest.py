"""The es tests run on the in-memory and the SQLite event store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.es._es_domain import codec

from eventflux import EventStore, open_store


@pytest_asyncio.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventStore]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/es.db"
    async with await open_store(url, codec=codec) as s:
        yield s
