"""One store subscription per server process, fanned out to every live
connection (SSE, WebSocket, dashboard) through a bounded queue each.

A connection registers a :class:`Feed`, catches up from the store itself,
then reads the feed, skipping what it already sent. The hub never waits for a
connection: a feed whose queue is full is dropped (``overflowed``), so a slow
reader costs at most ``live_queue`` events of memory and resumes from its
last position.

Example::

    feed = await hub.register(FeedFilter(types=None, prefix="orders-"), maxsize=1024)
    try:
        item = await feed.get(wait=15.0)      # a LiveEvent, or None after 15 s
    finally:
        hub.unregister(feed)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from ..events import RecordedEvent
from ..exceptions import EventfluxError
from ..store import EventStore
from .jsonio import dumps
from .rates import RateCounter
from .wire import event_json

__all__ = ["Feed", "FeedClosed", "FeedFilter", "LiveEvent", "LiveHub", "sse_chunk"]

log = logging.getLogger("eventflux.server")


def sse_chunk(event_id: int | None, event: str | None, data: bytes) -> bytes:
    """One Server-Sent Events message (``data`` is a single line of JSON)."""
    head = b""
    if event_id is not None:
        head += b"id: %d\n" % event_id
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    return head + b"data: " + data + b"\n\n"


class LiveEvent:
    """A stored event with its JSON and SSE encodings, made once for all feeds."""

    __slots__ = ("_json", "_sse", "event")

    def __init__(self, event: RecordedEvent) -> None:
        self.event = event
        self._json: bytes | None = None
        self._sse: bytes | None = None

    @property
    def position(self) -> int:
        return self.event.position

    def json(self) -> bytes:
        if self._json is None:
            self._json = dumps(event_json(self.event))
        return self._json

    def sse(self) -> bytes:
        if self._sse is None:
            self._sse = sse_chunk(self.event.position, self.event.type, self.json())
        return self._sse


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """What a feed wants: event types (None: all) and a stream prefix (None: all)."""

    types: frozenset[str] | None = None
    prefix: str | None = None

    def matches(self, event: RecordedEvent) -> bool:
        if self.prefix is not None and not event.stream.startswith(self.prefix):
            return False
        return self.types is None or event.type in self.types


class FeedClosed(Exception):
    """The feed ended: its reader was too slow, or the hub stopped."""

    def __init__(self, reason: str, overflowed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.overflowed = overflowed


class Feed:
    """A bounded queue of live events for one connection."""

    def __init__(self, flt: FeedFilter, maxsize: int) -> None:
        self.filter = flt
        self.maxsize = maxsize
        self._items: deque[LiveEvent] = deque()
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()
        self._closed: FeedClosed | None = None

    @property
    def closed(self) -> FeedClosed | None:
        """Why the feed ended, or None while it runs."""
        return self._closed

    def offer(self, item: LiveEvent) -> bool:
        """Queue ``item``; False (and the feed closes) when the queue is full."""
        if len(self._items) >= self.maxsize:
            self.close("the reader fell too far behind", overflowed=True)
            return False
        self._items.append(item)
        self._wake.set()
        return True

    def close(self, reason: str, *, overflowed: bool = False) -> None:
        if self._closed is None:
            self._closed = FeedClosed(reason, overflowed)
            self._items.clear()
        self._wake.set()
        self._ended.set()

    async def wait_closed(self) -> None:
        """Return once the feed has ended."""
        await self._ended.wait()

    async def get(self, wait: float | None = None) -> LiveEvent | None:
        """The next event; None after ``wait`` seconds without one; raises
        :class:`FeedClosed` once the feed has ended."""
        while True:
            if self._closed is not None:
                raise self._closed
            if self._items:
                return self._items.popleft()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                return None

    def pending(self) -> int:
        return len(self._items)


class LiveHub:
    """The one live store subscription of a server process."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.appended = RateCounter()
        self.position = 0
        self._feeds: set[Feed] = set()
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._stopped = False

    @property
    def feeds(self) -> frozenset[Feed]:
        """The feeds registered now (one per live connection or subscription)."""
        return frozenset(self._feeds)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the subscription (at the store's current end) if it is not running."""
        if self.running:
            return
        async with self._start_lock:
            if self.running or self._stopped:
                return
            self.position = await self.store.last_position()
            self._task = asyncio.get_running_loop().create_task(
                self._run(self.position), name="eventflux-live-hub"
            )

    async def register(self, flt: FeedFilter, maxsize: int) -> Feed:
        """A new feed; events after :attr:`position` (as of this call) reach it."""
        await self.start()
        feed = Feed(flt, maxsize)
        if self._stopped:
            feed.close("the server is shutting down")
        else:
            self._feeds.add(feed)
        return feed

    def unregister(self, feed: Feed) -> None:
        self._feeds.discard(feed)

    async def _run(self, after: int) -> None:
        reason = "the event store was closed"
        try:
            async for event in self.store.subscribe(after=after):
                self.position = event.position
                self.appended.tick()
                item = LiveEvent(event)
                for feed in list(self._feeds):
                    if feed.filter.matches(event) and not feed.offer(item):
                        self._feeds.discard(feed)
        except asyncio.CancelledError:
            reason = "the server is shutting down"
            raise
        except EventfluxError as e:
            reason = f"the event store failed: {e}"
            log.warning("live subscription ended: %s", e)
        finally:
            for feed in self._feeds:
                feed.close(reason)
            self._feeds.clear()

    async def stop(self) -> None:
        """End the subscription and every feed (server shutdown)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for feed in self._feeds:
            feed.close("the server is shutting down")
        self._feeds.clear()
