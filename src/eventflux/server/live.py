"""Reading events live: catch up from the store, then follow the hub.

Example::

    async with LiveReader(ctx.hub, FeedFilter(prefix="orders-"), after=120, maxsize=1024) as r:
        async for item in r.items(keepalive=15.0):
            ...   # a LiveEvent, or None when nothing came for `keepalive` seconds
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

from .hub import Feed, FeedFilter, LiveEvent, LiveHub

__all__ = ["LiveReader"]


class LiveReader:
    """Every event after ``after`` that matches the filter, in position order,
    each once: first from the store, then from a hub feed. Raises
    :class:`~eventflux.server.hub.FeedClosed` when the feed ends (a slow
    reader, a shutdown); :attr:`last` tells where to resume."""

    def __init__(self, hub: LiveHub, flt: FeedFilter, after: int, maxsize: int) -> None:
        self.hub = hub
        self.filter = flt
        self.last = after
        self.maxsize = maxsize
        self._feed: Feed | None = None

    @property
    def feed(self) -> Feed:
        assert self._feed is not None, "use LiveReader in an async with block"
        return self._feed

    async def open(self) -> None:
        """Register the feed: live events from now on are kept for this reader."""
        self._feed = await self.hub.register(self.filter, self.maxsize)

    def close(self) -> None:
        """Unregister the feed (safe to call more than once)."""
        if self._feed is not None:
            self.hub.unregister(self._feed)
            self._feed.close("the reader left")

    async def __aenter__(self) -> LiveReader:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def items(self, keepalive: float | None) -> AsyncIterator[LiveEvent | None]:
        """The events; ``None`` after ``keepalive`` idle seconds (time for a
        keep-alive), forever until the feed ends."""
        feed = self.feed
        flt = self.filter
        types = sorted(flt.types) if flt.types is not None else None
        async for event in self.hub.store.read_all(
            after=self.last, types=types, stream_prefix=flt.prefix
        ):
            if feed.closed is not None:
                raise feed.closed
            self.last = event.position
            yield LiveEvent(event)
        while True:
            item = await feed.get(keepalive)
            if item is None:
                yield None
            elif item.position > self.last:
                self.last = item.position
                yield item
