"""The token stores (SQLite file, PostgreSQL table, memory) and the token rules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.servers.postgres import PostgresServer, pg_server

from eventflux.server.tokens import (
    Scope,
    TokenStore,
    open_token_store,
    split_token,
)
from eventflux.server.tokens.model import new_token

__all__ = ["pg_server"]


def test_scopes_nest() -> None:
    assert Scope.ADMIN.includes(Scope.WRITE)
    assert Scope.ADMIN.includes(Scope.READ)
    assert Scope.WRITE.includes(Scope.READ)
    assert not Scope.READ.includes(Scope.WRITE)
    assert not Scope.WRITE.includes(Scope.ADMIN)


def test_a_token_matches_its_record_only() -> None:
    token, record = new_token(Scope.READ, "p-")
    other, _ = new_token(Scope.READ)
    assert record.matches(token)
    assert not record.matches(other)
    assert not record.matches(token[:-1])
    assert not record.matches("efx_" + record.info.id + "_")
    assert split_token("efx_abc_def_ghi") == ("abc", "def_ghi")
    assert split_token("nope") is None
    with pytest.raises(ValueError, match="prefix"):
        new_token(Scope.READ, "a\nb")


async def exercise(tokens: TokenStore) -> None:
    token, info = await tokens.create(Scope.WRITE, prefix="orders-", name="shop")
    assert (info.scope, info.prefix, info.name, info.active) == (
        Scope.WRITE,
        "orders-",
        "shop",
        True,
    )
    (listed,) = await tokens.list()
    assert listed == info
    (record,) = await tokens.records()
    assert record.matches(token)
    assert token.split("_", 2)[2] not in record.secret_hash
    assert await tokens.revoke(info.id)
    assert not await tokens.revoke(info.id)
    assert not await tokens.revoke("missing")
    assert await tokens.list() == []
    (revoked,) = await tokens.list(include_revoked=True)
    assert revoked.revoked_at is not None
    with pytest.raises(ValueError, match="name"):
        await tokens.create(Scope.READ, name="x\x00")


@pytest.mark.asyncio
async def test_sqlite_tokens(tmp_path: Path) -> None:
    tokens = await open_token_store(f"sqlite:///{tmp_path}/sub/tokens.db")
    await exercise(tokens)
    again = await open_token_store(f"sqlite:///{tmp_path}/sub/tokens.db")  # another process
    assert len(await again.list(include_revoked=True)) == 1


@pytest.mark.asyncio
async def test_memory_tokens() -> None:
    await exercise(await open_token_store("memory://"))


@pytest_asyncio.fixture
async def pg_tokens(pg_server: PostgresServer) -> AsyncIterator[Callable[[], str]]:
    schema = "t_" + uuid.uuid4().hex[:12]
    yield lambda: pg_server.url(schema=schema, pool_max="2")


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_postgres_tokens_live_in_the_store_database(pg_tokens: Callable[[], str]) -> None:
    from eventflux import open_store

    url = pg_tokens()
    async with await open_store(url):  # the store's own tables, the same schema
        tokens = await open_token_store(url)
        try:
            await exercise(tokens)
        finally:
            await tokens.close()
        other = await open_token_store(url)
        try:
            assert len(await other.list(include_revoked=True)) == 1
        finally:
            await other.close()


@pytest.mark.asyncio
async def test_a_server_sees_token_changes_in_the_file_at_once(tmp_path: Path) -> None:
    import time

    from eventflux.server.auth import TokenVerifier

    url = f"sqlite:///{tmp_path}/tokens.db"
    verifier = TokenVerifier(await open_token_store(url), refresh=3600.0)
    assert not await verifier.any_token()
    other = await open_token_store(url)  # the CLI, in another process
    token, info = await other.create(Scope.READ)

    async def poll(check: Callable[[], Any], want: object) -> None:
        deadline = time.monotonic() + 5
        while await check() != want:
            assert time.monotonic() < deadline, "the change was not seen"
            await asyncio.sleep(0.02)

    await poll(verifier.any_token, True)
    assert await verifier.verify(token) is not None
    await other.revoke(info.id)
    await poll(lambda: verifier.verify(token), None)
