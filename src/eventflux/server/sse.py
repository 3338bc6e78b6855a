"""Server-Sent Events over a plain ASGI response, with keep-alives, a
disconnect watcher and the drop of a slow reader.

The response writes ``retry:`` first, then each chunk the source yields
(``None`` becomes a keep-alive comment). When the source raises
:class:`~eventflux.server.hub.FeedClosed` (the reader fell behind, or the
server shuts down) the stream ends with a comment saying so; a reader that
does not even take that comment within ``drop_grace`` seconds is cut off.

Example::

    return EventStream(chunks(), feed=reader.feed, settings=ctx.settings,
                       on_close=lambda: ctx.limiter.release(key))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Final

from starlette.types import Receive, Scope, Send

from .hub import Feed, FeedClosed
from .settings import ServerSettings

__all__ = [
    "EventStream",
    "KEEPALIVE",
]

log = logging.getLogger("eventflux.server")

KEEPALIVE: Final = b": keep-alive\n\n"
_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


class EventStream:
    """An ASGI response streaming SSE chunks from ``source``."""

    def __init__(
        self,
        source: AsyncGenerator[bytes | None, None],
        *,
        feed: Feed | None,
        settings: ServerSettings,
        on_close: Callable[[], None] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.source = source
        self.feed = feed
        self.settings = settings
        self.on_close = on_close
        self.headers = _HEADERS + (headers or [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            tasks = [
                asyncio.ensure_future(self._write(send)),
                asyncio.ensure_future(self._watch_disconnect(receive)),
            ]
            if self.feed is not None:
                tasks.append(asyncio.ensure_future(self._watch_drop(self.feed)))
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            with contextlib.suppress(Exception):
                await self.source.aclose()
            if self.on_close is not None:
                self.on_close()

    async def _write(self, send: Send) -> None:
        retry = b"retry: %d\n\n" % self.settings.sse_retry_ms
        await send({"type": "http.response.body", "body": retry, "more_body": True})
        try:
            async for chunk in self.source:
                body = KEEPALIVE if chunk is None else chunk
                await send({"type": "http.response.body", "body": body, "more_body": True})
        except FeedClosed as e:
            if e.overflowed:
                log.warning("dropped a slow SSE reader: %s", e.reason)
            last = f": {e.reason}; reconnect with Last-Event-ID to resume\n\n".encode()
            await send({"type": "http.response.body", "body": last, "more_body": False})
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def _watch_drop(self, feed: Feed) -> None:
        await feed.wait_closed()
        # the writer gets drop_grace seconds to deliver the last comment
        await asyncio.sleep(self.settings.drop_grace)
