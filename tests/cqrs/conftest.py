"""Fixtures of the cqrs tests: a SQLite event store on the test codec, and a read
model on each backend (``place``, ``model``) with the ledger projection on it,
in both handler styles (``ledger``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tests.cqrs._cqrs_domain import AsyncLedger, Ledger, codec
from tests.cqrs._places import ReadPlace, place
from tests.servers.postgres import pg_server

from eventflux import EventStore, open_store
from eventflux.cqrs import ReadModel

__all__ = ["pg_server", "place"]


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    async with await open_store(f"sqlite:///{tmp_path}/events.db", codec=codec) as s:
        yield s


@pytest.fixture
def model(place: ReadPlace) -> ReadModel:
    return place.open()


@pytest.fixture(params=["plain", "async"])
def ledger(request: pytest.FixtureRequest, model: ReadModel) -> Ledger:
    """The ledger with plain handlers (batches on the writer thread) or with
    ``async def`` ones (batches on the event loop)."""
    return Ledger(model) if request.param == "plain" else AsyncLedger(model)
