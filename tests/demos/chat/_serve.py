"""Chat servers for the tests: one in the test's process (uvicorn, memory
store and bus), or real ``eventflux serve eventflux.demos.chat:app``
processes sharing SQLite files."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from tests.server._proc import ServeProcess
from tests.server.conftest import LiveServer, running

from eventflux import App, open_bus, open_store
from eventflux.demos import chat
from eventflux.demos.chat import ChatSettings, make_app, service_of
from eventflux.demos.chat.web import routes
from eventflux.server.served import ServedApp

FOLDER = Path(chat.__file__).resolve().parent
WS_PATH = "/demos/chat/ws"


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + WS_PATH


async def eventually(check: Callable[[], Any], what: str, within: float = 20.0) -> None:
    """Wait until ``check()`` (plain or async) is true, polling."""
    async with asyncio.timeout(within):
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(what)  # pragma: no cover


@contextlib.asynccontextmanager
async def chat_server(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[LiveServer, App]]:
    """The chat App served in this process on memory backends."""
    app = make_app(
        store="memory://",
        bus="memory://",
        read_model=f"sqlite:///{tmp_path}/chat-read.db",
        settings=ChatSettings(**settings),
    )
    async with await open_store("memory://") as store, await open_bus("memory://") as bus:
        served = ServedApp(app, FOLDER, routes=routes(app))
        async with running(store, bus, keepalive=0.2, apps=[served]) as live:
            await eventually(lambda: service_of(app).node is not None, "the chat node")
            node = service_of(app).node
            assert node is not None
            await node.started.wait()
            yield live, app


class ChatProcess(ServeProcess):
    """``eventflux serve eventflux.demos.chat:app`` in ``folder`` (its SQLite
    files there, shared by every process started in it)."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(folder, *args, "eventflux.demos.chat:app", env=env)
        self.ws = ws_url(self.url)

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(self.url + "/demos/chat/stats", timeout=5).json()
        return found

    def wait_ready(self, deadline: float = 30.0) -> None:
        super().wait_ready(deadline)
        import time

        end = time.monotonic() + deadline
        while time.monotonic() < end:  # the node runs once the App's workers do
            if httpx.get(self.url + "/demos/chat/stats", timeout=5).status_code == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"the chat did not start:\n{self.output()}")
