"""``GET /live``: the dashboard's one live connection per page (SSE): rates every
second (``event: rates``); on the tail page, the events themselves
(``event: event``, ``id:`` the position, so a reconnect resumes); and the
topics a page follows (``topics=groups,projections,breakers``: one event of
that name each second with the list as the API shows it).

Example::

    GET /live?tail=1&after=1200&prefix=orders-&types=Placed,Paid
    GET /live?topics=groups
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

from ..api.dlq import visible_letters
from ..api.read_all import start_position
from ..auth import Principal, narrow_prefix
from ..context import ServerContext, context_of
from ..hub import FeedFilter, sse_chunk
from ..jsonio import dumps
from ..live import LiveReader
from ..params import bool_param, str_param, types_param
from ..sse import EventStream
from ..tokens import Scope
from .topics import TopicSampler, parse_topics

__all__ = ["Sampler", "live"]

_RATES_EVERY: Final = 1.0
_LETTERS_EVERY: Final = 2.0
_MAX_COUNTED: Final = 10_000


@dataclass
class Sampler:
    """The figures of the rates line, shared by every page of one server; the
    dead letters are counted at most every two seconds per prefix."""

    ctx: ServerContext
    topics: TopicSampler
    _letters: dict[str, tuple[float, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx: ServerContext) -> Sampler:
        sampler = ctx.extras.get("dashboard.sampler")
        if sampler is None:
            sampler = ctx.extras["dashboard.sampler"] = cls(ctx, TopicSampler(ctx))
        assert isinstance(sampler, Sampler)
        return sampler

    async def dead_letters(self, principal: Principal) -> int:
        key = principal.prefix
        now = time.monotonic()
        cached = self._letters.get(key)
        if cached is not None and now - cached[0] < _LETTERS_EVERY:
            return cached[1]
        letters = await visible_letters(self.ctx.bus, principal, None, None, _MAX_COUNTED)
        self._letters[key] = (now, len(letters))
        return len(letters)

    async def rates(self, principal: Principal) -> dict[str, Any]:
        hub = self.ctx.hub
        groups = await self.topics.read("groups", principal)
        breakers = await self.topics.read("breakers", principal)
        return {
            "events_per_second": hub.appended.rate(),
            "messages_per_second": self.ctx.published.rate(),
            "position": hub.position,
            "dead_letters": await self.dead_letters(principal),
            "lag": sum(g["lag"] for g in groups),
            "open_breakers": sum(b["state"] != "closed" for b in breakers),
        }


async def _samples(sampler: Sampler, principal: Principal, topics: tuple[str, ...]) -> list[bytes]:
    """The rates, then each topic followed, as SSE chunks."""
    chunks = [sse_chunk(None, "rates", dumps(await sampler.rates(principal)))]
    for topic in topics:
        chunks.append(sse_chunk(None, topic, dumps(await sampler.topics.read(topic, principal))))
    return chunks


async def _source(
    ctx: ServerContext, principal: Principal, reader: LiveReader | None, topics: tuple[str, ...]
) -> AsyncGenerator[bytes | None, None]:
    sampler = Sampler.of(ctx)
    next_rates = 0.0
    if reader is None:
        while not ctx.closing.is_set():
            for chunk in await _samples(sampler, principal, topics):
                yield chunk
            try:
                await asyncio.wait_for(ctx.closing.wait(), _RATES_EVERY)
            except TimeoutError:
                pass
        return
    async for item in reader.items(_RATES_EVERY):
        if item is not None:
            yield sse_chunk(item.position, "event", item.json())
        now = time.monotonic()
        if now >= next_rates:
            next_rates = now + _RATES_EVERY
            for chunk in await _samples(sampler, principal, topics):
                yield chunk


async def live(request: Request) -> Response | EventStream:
    """The page's live connection."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    tail = bool_param(request, "tail")
    after = start_position(request)
    types = types_param(request)
    topics = parse_topics(str_param(request, "topics"))
    prefix = narrow_prefix(principal.prefix, str_param(request, "prefix"))
    key = principal.key
    ctx.limiter.acquire(key)
    reader: LiveReader | None = None
    try:
        await ctx.hub.start()
        if tail and prefix is not None:
            flt = FeedFilter(frozenset(types) if types else None, prefix or None)
            reader = LiveReader(ctx.hub, flt, after, ctx.settings.live_queue)
            await reader.open()
    except BaseException:
        ctx.limiter.release(key)
        raise

    def close() -> None:
        if reader is not None:
            reader.close()
        ctx.limiter.release(key)

    return EventStream(
        _source(ctx, principal, reader, topics),
        feed=reader.feed if reader is not None else None,
        settings=ctx.settings,
        on_close=close,
    )
