"""Fixtures of the cqrs tests: a SQLite event store on the test codec, a ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from tests.cqrs._cqrs_domain import Ledger, codec

from eventflux import EventStore, open_store
from eventflux.cqrs import SQLiteReadModel


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    async with await open_store(f"sqlite:///{tmp_path}/events.db", codec=codec) as s:
        yield s


@pytest_asyncio.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    projection = Ledger(SQLiteReadModel(tmp_path / "read.db"))
    yield projection
    await projection.model.close()
