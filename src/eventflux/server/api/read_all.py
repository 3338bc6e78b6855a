"""The global log: ``GET /api/all`` (a page) and ``GET /api/subscribe`` (live, SSE).

``/api/all?after=&limit=&types=&stream_prefix=&correlation_id=`` answers
``{"events": [...], "last_position"}``. ``/api/subscribe?after=&types=&stream_prefix=``
streams Server-Sent Events: ``id:`` the position, ``event:`` the type,
``data:`` the event JSON; ``Last-Event-ID`` wins over ``after``; a comment
line every 15 s keeps an idle connection open.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...events import CORRELATION_ID, RecordedEvent
from ...store import EventStore
from ..auth import narrow_prefix
from ..context import ServerContext, context_of
from ..hub import FeedClosed, FeedFilter
from ..jsonio import json_response
from ..live import LiveReader
from ..module import ServerModule
from ..openapi import errors, json_content, limit_parameter, query, ref
from ..params import MAX_INT, int_param, limit_param, parse_nonnegative, str_param, types_param
from ..sse import EventStream
from ..tokens import Scope
from ..wire import event_json

__all__ = ["MODULE", "read_all", "read_correlated", "subscribe"]

_native_correlation: dict[type, bool] = {}


def _store_filters_correlation(store: EventStore) -> bool:
    kind = type(store)
    if kind not in _native_correlation:
        params = inspect.signature(store.read_all).parameters
        _native_correlation[kind] = "correlation_id" in params
    return _native_correlation[kind]


async def read_correlated(
    store: EventStore,
    correlation_id: str,
    *,
    after: int,
    limit: int,
    types: list[str] | None,
    stream_prefix: str | None,
) -> list[RecordedEvent]:
    """The events whose metadata holds ``correlation_id``, in position order.

    Uses the store's own filter (an index) where the store has one, else reads
    the log and filters the metadata."""
    if _store_filters_correlation(store):
        native: AsyncIterator[RecordedEvent] = store.read_all(
            after=after,
            limit=limit,
            types=types,
            stream_prefix=stream_prefix,
            correlation_id=correlation_id,
        )
        return [e async for e in native]
    found: list[RecordedEvent] = []
    async for e in store.read_all(after=after, types=types, stream_prefix=stream_prefix):
        if e.metadata.get(CORRELATION_ID) == correlation_id:
            found.append(e)
            if len(found) >= limit:
                break
    return found


async def read_all(request: Request) -> Response:
    """A page of the global log, filtered, within the token's prefix."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    after = int_param(request, "after", 0) or 0
    limit = limit_param(request)
    types = types_param(request)
    prefix = narrow_prefix(principal.prefix, str_param(request, "stream_prefix"))
    correlation_id = str_param(request, "correlation_id") or None
    events: list[RecordedEvent] = []
    if prefix is not None:
        if correlation_id is not None:
            events = await read_correlated(
                ctx.store,
                correlation_id,
                after=after,
                limit=limit,
                types=types,
                stream_prefix=prefix,
            )
        else:
            events = [
                e
                async for e in ctx.store.read_all(
                    after=after, limit=limit, types=types, stream_prefix=prefix
                )
            ]
    return json_response(
        {
            "events": [event_json(e) for e in events],
            "last_position": events[-1].position if events else None,
        }
    )


def start_position(request: Request) -> int:
    """Where a live feed starts: ``Last-Event-ID`` if sent (400 if not an
    integer), else ``after``, else 0."""
    header = request.headers.get("last-event-id")
    if header is not None:
        return parse_nonnegative(header, "the Last-Event-ID header")
    return int_param(request, "after", 0) or 0


async def _idle(ctx: ServerContext) -> AsyncGenerator[bytes | None, None]:
    """Keep-alives only: the token's prefix covers nothing that was asked for."""
    while not ctx.closing.is_set():
        try:
            await asyncio.wait_for(ctx.closing.wait(), ctx.settings.keepalive)
        except TimeoutError:
            yield None
    raise FeedClosed("the server is shutting down")


async def _events(reader: LiveReader, keepalive: float) -> AsyncGenerator[bytes | None, None]:
    async for item in reader.items(keepalive):
        yield None if item is None else item.sse()


async def subscribe(request: Request) -> Response | EventStream:
    """Every event after a position, then live, as Server-Sent Events."""
    ctx = context_of(request)
    principal = await ctx.auth.require(request, Scope.READ)
    after = start_position(request)
    types = types_param(request)
    prefix = narrow_prefix(principal.prefix, str_param(request, "stream_prefix"))
    if request.method == "HEAD":  # the headers of a stream, without the endless body
        return Response(media_type="text/event-stream")
    key = principal.key
    ctx.limiter.acquire(key)
    if prefix is None:
        return EventStream(
            _idle(ctx), feed=None, settings=ctx.settings, on_close=lambda: ctx.limiter.release(key)
        )
    flt = FeedFilter(frozenset(types) if types else None, prefix or None)
    reader = LiveReader(ctx.hub, flt, after, ctx.settings.live_queue)
    try:
        await reader.open()
    except BaseException:
        ctx.limiter.release(key)
        raise

    def close() -> None:
        reader.close()
        ctx.limiter.release(key)

    return EventStream(
        _events(reader, ctx.settings.keepalive),
        feed=reader.feed,
        settings=ctx.settings,
        on_close=close,
    )


_AFTER: dict[str, Any] = query(
    "after",
    {"type": "integer", "minimum": 0, "maximum": MAX_INT},
    "Only events after this position (exclusive; default 0).",
)
_TYPES: dict[str, Any] = query("types", {"type": "string"}, "Comma-separated event types.")
_PREFIX: dict[str, Any] = query(
    "stream_prefix", {"type": "string"}, "Only streams starting with this."
)

MODULE = ServerModule(
    "all",
    routes=[
        Route("/api/all", read_all, methods=["GET"]),
        Route("/api/subscribe", subscribe, methods=["GET"]),
    ],
    openapi={
        "/api/all": {
            "get": {
                "summary": "Read the global log",
                "operationId": "readAll",
                "parameters": [
                    _AFTER,
                    limit_parameter(),
                    _TYPES,
                    _PREFIX,
                    query(
                        "correlation_id",
                        {"type": "string"},
                        "Only events whose metadata holds this correlation_id.",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "Events in position order",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["events", "last_position"],
                                "properties": {
                                    "events": {"type": "array", "items": ref("Event")},
                                    "last_position": {
                                        "type": ["integer", "null"],
                                        "description": "Position of the last event returned",
                                    },
                                },
                            }
                        ),
                    },
                    **errors(),
                },
            }
        },
        "/api/subscribe": {
            "get": {
                "summary": "Follow the global log live (Server-Sent Events)",
                "operationId": "subscribe",
                "description": (
                    "`id:` is the position, `event:` the type, `data:` the event JSON. "
                    "`Last-Event-ID` wins over `after`. A comment line every 15 s keeps an "
                    "idle connection open. A reader that falls too far behind gets a final "
                    "comment and is disconnected; it resumes with `Last-Event-ID`."
                ),
                "parameters": [
                    _AFTER,
                    _TYPES,
                    _PREFIX,
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "An endless event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **errors(429),
                },
            }
        },
    },
)
