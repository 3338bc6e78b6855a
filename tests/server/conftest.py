"""Fixtures of the server tests: an app over memory backends, an httpx client
on it, a real uvicorn server in the test's loop, tokens."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from tests.servers._shared import free_port

from eventflux import open_store
from eventflux.bus import MessageBus, open_bus
from eventflux.server import ServerSettings, create_app
from eventflux.server.http import HttpProtocol
from eventflux.server.tokens import MemoryTokenStore, Scope, TokenStore
from eventflux.store import EventStore

__all__ = ["Api", "LiveServer"]


@dataclass
class Api:
    """An app over memory backends, with a client and its tokens."""

    store: EventStore
    bus: MessageBus
    tokens: TokenStore
    client: httpx.AsyncClient
    app: Any

    async def token(self, scope: str = "admin", prefix: str = "") -> str:
        token, _ = await self.tokens.create(Scope(scope), prefix=prefix)
        self.app.state.eventflux.auth.verifier.invalidate()
        return token

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def backends() -> AsyncIterator[tuple[EventStore, MessageBus]]:
    async with await open_store("memory://") as store, await open_bus("memory://") as bus:
        yield store, bus


@pytest_asyncio.fixture
async def make_api(
    backends: tuple[EventStore, MessageBus],
) -> AsyncIterator[Callable[..., Awaitable[Api]]]:
    """``await make_api(**settings)``: an app on the memory store and bus."""
    store, bus = backends
    clients: list[httpx.AsyncClient] = []

    async def make(**settings: Any) -> Api:
        tokens = MemoryTokenStore()
        app = create_app(store, bus, tokens=tokens, settings=ServerSettings(**settings))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
        )
        clients.append(client)
        return Api(store, bus, tokens, client, app)

    yield make
    for client in clients:
        await client.aclose()


@pytest_asyncio.fixture
async def api(make_api: Callable[..., Awaitable[Api]]) -> Api:
    """An open app (loopback, no tokens yet)."""
    return await make_api()


@dataclass
class LiveServer:
    """A real uvicorn server running the app in the test's event loop."""

    url: str
    app: Any
    server: uvicorn.Server
    store: EventStore
    bus: MessageBus
    tokens: TokenStore

    async def token(self, scope: str = "admin", prefix: str = "") -> str:
        token, _ = await self.tokens.create(Scope(scope), prefix=prefix)
        self.app.state.eventflux.auth.verifier.invalidate()
        return token


@contextlib.asynccontextmanager
async def running(
    store: EventStore,
    bus: MessageBus,
    tokens: TokenStore | None = None,
    *,
    apps: Sequence[Any] = (),
    **settings: Any,
) -> AsyncIterator[LiveServer]:
    """Serve an app on a free port for the ``async with`` block (with ``apps``:
    those eventflux Apps served, their workers running in the server)."""
    tokens = tokens if tokens is not None else MemoryTokenStore()
    app = create_app(store, bus, tokens=tokens, settings=ServerSettings(**settings), apps=apps)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws="websockets-sansio",
        http=HttpProtocol,  # as eventflux serve runs it
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    assert server.started, "the server did not start"
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, server, store, bus, tokens)
    finally:
        await app.state.eventflux.begin_shutdown()
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest_asyncio.fixture
async def live(backends: tuple[EventStore, MessageBus]) -> AsyncIterator[LiveServer]:
    """A real server on the memory store and bus (open: loopback, no tokens yet)."""
    store, bus = backends
    async with running(store, bus, keepalive=0.2) as server:
        yield server


@pytest_asyncio.fixture
async def shop(
    backends: tuple[EventStore, MessageBus], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LiveServer]:
    """A real server serving the minishop App (its workers running in it) on the
    memory store and bus; its read model in the test's folder."""
    from tests.server import minishop

    monkeypatch.setenv("EVENTFLUX_READ_MODEL", f"sqlite:///{tmp_path}/minishop-read.db")
    minishop.ACCEPT_BAD[0] = False
    store, bus = backends
    try:
        async with running(store, bus, keepalive=0.2, apps=[minishop.app]) as server:
            yield server
    finally:
        minishop.ACCEPT_BAD[0] = False
        minishop.gateway.reset()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
