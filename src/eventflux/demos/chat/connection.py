"""One client's WebSocket: the rooms it follows, its outgoing frames, its
rate limit and its liveness.

Every frame to the client goes through one queue and one writer task, in
order. A room event carries its version: the writer sends a room's events
strictly in version order, each once (an older or repeated one is skipped;
a gap is filled from the store first), so the live feed and the catch-up
from the store join without a loss or a duplicate. A reader that does not
read lets the queue fill; at ``settings.queue`` frames the connection is
dropped (the client reconnects and resumes from the store).

Example::

    conn = Connection(7, "ann", "tab-1", send, store, settings)
    conn.offer('{"type": "pong"}')
    await conn.write_loop()          # until cancelled
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ...store import EventStore
from .presence import ONLINE
from .ratelimit import TokenBucket
from .records import event_frame
from .settings import ChatSettings

__all__ = ["CLOSE_SLOW", "CLOSE_TIMEOUT", "Connection", "Feed", "Job"]

#: close codes: the client did not read fast enough / sent nothing for the timeout
CLOSE_SLOW: Final = 4008
CLOSE_TIMEOUT: Final = 4001

Send = Callable[[dict[str, Any]], Awaitable[None]]
#: work the writer runs in order with the frames (a catch-up from the store)
Job = Callable[[], Awaitable[None]]


class Feed:
    """A room followed by one connection: ``next`` is the version it expects."""

    __slots__ = ("active", "conn", "next", "room", "stream")

    def __init__(self, conn: Connection, room: str, stream: str) -> None:
        self.conn = conn
        self.room = room
        self.stream = stream
        self.next = 1
        self.active = True


class Connection:
    """One WebSocket of one user (a user may have several)."""

    def __init__(
        self,
        ident: int,
        user: str,
        client: str,
        send: Send,
        store: EventStore,
        settings: ChatSettings,
    ) -> None:
        self.id = ident
        self.user = user
        self.client = client
        self.store = store
        self.settings = settings
        self.state = ONLINE
        self.feeds: dict[str, Feed] = {}
        self.last_seen = time.monotonic()
        self.bucket = TokenBucket(settings.rate, settings.burst)
        self.refused = 0
        self.typing_at: dict[str, float] = {}
        self.sent = 0
        self.closing: tuple[int, str] | None = None
        self.closed = asyncio.Event()
        self._send = send
        self._out: deque[Any] = deque()
        self._ready = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.user!r} rooms={sorted(self.feeds)}>"

    @property
    def backlog(self) -> int:
        """Frames waiting to be written."""
        return len(self._out)

    # -- what others hand it -------------------------------------------------------------
    def offer(self, item: str | tuple[Feed, int, str] | Job) -> bool:
        """Queue a frame (text), a room event ``(feed, version, text)`` or a job;
        False when the connection is closing, or is dropped now because its
        reader fell ``settings.queue`` frames behind."""
        if self.closing is not None:
            return False
        if len(self._out) >= self.settings.queue:
            self.close(
                CLOSE_SLOW,
                "too slow: reconnect and join with the last version you saw",
            )
            return False
        self._out.append(item)
        if not self._ready.is_set():
            self._ready.set()
        return True

    def close(self, code: int, reason: str) -> None:
        """Ask for the connection to end (its handler closes the socket)."""
        if self.closing is None:
            self.closing = (code, reason[:120])
            self.closed.set()

    # -- the writer -------------------------------------------------------------------------
    async def write_loop(self) -> None:
        """Write the queued frames in order, until cancelled."""
        out = self._out
        ready = self._ready
        while True:
            if not out:
                ready.clear()
                await ready.wait()
                continue
            item = out.popleft()
            if type(item) is str:
                await self.text(item)
            elif type(item) is tuple:
                feed, version, text = item
                if feed.active and version >= feed.next:
                    if version > feed.next:
                        await self.fill(feed, version - 1)
                    if version == feed.next:
                        await self.text(text)
                        feed.next = version + 1
            else:
                await item()

    async def text(self, text: str) -> None:
        """Write one frame now (the writer's own use, and its jobs')."""
        await self._send({"type": "websocket.send", "text": text})
        self.sent += 1

    async def fill(self, feed: Feed, upto: int | None = None) -> None:
        """Send ``feed``'s events from the store, from the version it expects up
        to ``upto`` (None: all there are), in order, each once."""
        if upto is not None and upto < feed.next:
            return
        limit = None if upto is None else upto - feed.next + 1
        async for e in self.store.read(feed.stream, from_version=feed.next, limit=limit):
            if not feed.active:
                return
            if e.version >= feed.next:
                await self.text(event_frame(feed.room, e))
                feed.next = e.version + 1
