"""Where a test's read model lives: a SQLite file or a PostgreSQL schema.

The ``place`` fixture (imported by the conftests of tests/cqrs, tests/demos
and tests/docs) is parametrized over both, so every projection test runs on
both read models; the PostgreSQL side uses the shared test server (a schema
per test, so tests never meet).

Example::

    async def test_x(place: ReadPlace) -> None:
        model = place.open()                 # closed when the test ends
        other = place.open()                 # "another process" on the same model
        assert await place.leftovers() == []  # no rebuild scratch left behind
        await place.forget_store_ids()       # as a model made before store ids
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

from eventflux.cqrs import ReadModel, open_read_model
from eventflux.cqrs.readmodel import CHECKPOINTS_TABLE

__all__ = ["KINDS", "ReadPlace", "make_place", "place"]

#: the read-model backends every projection test runs on
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class ReadPlace:
    """A read-model URL for one test (and an event-store URL beside it)."""

    def __init__(self, kind: str, url: str, store_url: str, folder: Path) -> None:
        self.kind = kind
        self.url = url
        self.store_url = store_url
        self.folder = folder
        self.opened: list[ReadModel] = []

    def __repr__(self) -> str:
        return f"ReadPlace({self.url!r})"

    def open(self, **settings: Any) -> ReadModel:
        """A new read model on this place (closed when the test ends)."""
        model = open_read_model(self.url, **settings)
        self.opened.append(model)
        return model

    async def leftovers(self) -> list[str]:
        """The rebuild scratch files or schemas found beside the model."""
        if self.kind == "sqlite":
            return sorted(name for name in os.listdir(self.folder) if "rebuild" in name)
        schema = parse_qs(urlsplit(self.url).query)["schema"][0]
        rows = await self.open().fetch_all(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)",
            {"prefix": f"{schema}_rebuild"},
        )
        return [r["nspname"] for r in rows]

    async def forget_store_ids(self) -> None:
        """Drop the checkpoints' store id column, as in a read model made before
        read models recorded their store (close the models opened on it first)."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.folder / "read.db")
            try:
                conn.execute(f"ALTER TABLE {CHECKPOINTS_TABLE} DROP COLUMN store_id")
                conn.commit()
            finally:
                conn.close()
            return
        import psycopg
        from psycopg import sql

        parts = urlsplit(self.url)
        schema = parse_qs(parts.query)["schema"][0]
        drop = sql.SQL("ALTER TABLE {} DROP COLUMN store_id").format(
            sql.Identifier(schema, CHECKPOINTS_TABLE)
        )
        plain = parts._replace(query="").geturl()
        async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as conn:
            await conn.execute(drop)

    async def close(self) -> None:
        for model in self.opened:
            await model.close()


def make_place(request: pytest.FixtureRequest, kind: str, folder: Path) -> ReadPlace:
    """The place of ``kind`` for a test (the PostgreSQL server starts on first use)."""
    if kind == "sqlite":
        read, events = f"sqlite:///{folder}/read.db", f"sqlite:///{folder}/events.db"
        return ReadPlace(kind, read, events, folder)
    server = request.getfixturevalue("pg_server")
    prefix = "t_" + uuid.uuid4().hex[:12]
    return ReadPlace(
        kind, server.url(schema=f"{prefix}_read"), server.url(schema=f"{prefix}_events"), folder
    )


@pytest_asyncio.fixture(params=KINDS)
async def place(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ReadPlace]:
    """Where the test's read model lives: a SQLite file, a PostgreSQL schema."""
    where = make_place(request, request.param, tmp_path)
    yield where
    await where.close()
