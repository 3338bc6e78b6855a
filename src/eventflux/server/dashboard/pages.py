"""The dashboard's pages: overview, streams, one stream, one event, all events,
live tail, dead letters, causal chain, log in.

Example::

    pages = Pages(renderer)
    Route("/streams", pages.streams)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...events import CORRELATION_ID, RecordedEvent
from ...exceptions import EventfluxError
from ..api.dlq import visible_letters
from ..api.trace import check_correlation_id, load_trace
from ..auth import Principal, narrow_prefix
from ..context import context_of
from ..errors import ApiError, error_for
from ..tokens import Scope
from .render import Renderer
from .topics import TOPICS

__all__ = ["Handler", "Pages", "guarded", "letters_context"]

PAGE: Final = 50
SCAN: Final = 10_000
LETTERS_SHOWN: Final = 200

Handler = Callable[[Request, Principal], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Filters:
    """The type and time filters of the stream and event pages."""

    type: str
    since: str
    until: str
    types: frozenset[str] | None
    since_at: datetime | None
    until_at: datetime | None

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        type_text = q.get("type", "").strip()
        types = frozenset(t.strip() for t in type_text.split(",") if t.strip()) or None
        since, until = q.get("since", "").strip(), q.get("until", "").strip()
        return cls(type_text, since, until, types, _time(since, "since"), _time(until, "until"))

    def matches(self, e: RecordedEvent) -> bool:
        if self.types is not None and e.type not in self.types:
            return False
        if self.since_at is not None and e.recorded_at < self.since_at:
            return False
        return self.until_at is None or e.recorded_at <= self.until_at


def _time(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "BadRequest", f"{name}: {text!r} is not a date and time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "BadRequest", f"{name} must be a non-negative integer")
    return int(raw)


def guarded(renderer: Renderer, scope: Scope, handler: Handler) -> Callable[..., Any]:
    """A page that needs ``scope``: without a token the browser goes to the log-in
    page; a refusal or bad input shows an error page (never a 500)."""

    async def endpoint(request: Request) -> Response:
        ctx = context_of(request)
        try:
            principal = await ctx.auth.require(request, scope)
        except ApiError as e:
            if e.status == 401:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse("/login?" + urlencode({"next": target}), 303)
            return await renderer.page(
                request, "error.html", "", principal=None, status=e.status,
                message=e.message, title="Refused",
            )  # fmt: skip
        try:
            return await handler(request, principal)
        except (ApiError, EventfluxError) as e:
            error = e if isinstance(e, ApiError) else error_for(e)
            if error is None:
                raise
            return await renderer.page(
                request, "error.html", "", principal=principal, status=error.status,
                message=error.message, title=error.type,
            )  # fmt: skip

    return endpoint


class Pages:
    """The page handlers; each gets the request and the checked principal."""

    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    async def overview(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        await ctx.hub.start()
        position = await ctx.store.last_position()
        prefix = principal.prefix or None
        recent = [
            e
            async for e in ctx.store.read_all(
                after=max(0, position - 20), stream_prefix=prefix, limit=20
            )
        ]
        streams = await ctx.store.streams(principal.prefix)
        letters = await visible_letters(ctx.bus, principal, None, None, SCAN)
        groups = await TOPICS["groups"](ctx, principal)
        breakers = await TOPICS["breakers"](ctx, principal)
        apps = [
            {"name": s.name, "base": s.prefix, "pages": bool(s.app.pages)} for s in ctx.apps.apps
        ]
        return await self.r.page(
            request, "overview.html", "/", principal=principal,
            events_per_second=f"{ctx.hub.appended.rate():.1f}",
            messages_per_second=f"{ctx.published.rate():.1f}",
            position=position, dead_letters=len(letters), streams=len(streams),
            groups=len(groups), lag=sum(g["lag"] for g in groups),
            open_breakers=sum(b["state"] != "closed" for b in breakers),
            projections=len(ctx.apps.projections), apps=apps,
            events=list(reversed(recent)), title="Overview",
        )  # fmt: skip

    async def streams(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        asked = request.query_params.get("prefix", "")
        after = request.query_params.get("after", "")
        prefix = narrow_prefix(principal.prefix, asked)
        names = [] if prefix is None else await ctx.store.streams(prefix)
        later = [n for n in names if n > after] if after else names
        shown = later[:PAGE]
        rows = [{"name": n, "version": await ctx.store.stream_version(n)} for n in shown]
        next_after = shown[-1] if len(later) > PAGE else None
        return await self.r.page(
            request, "streams.html", "/streams", principal=principal, streams=rows,
            prefix=asked, next_after=next_after, total=len(names),
        )  # fmt: skip

    async def stream(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        name = request.query_params.get("name")
        if name is None:
            return RedirectResponse("/streams", 303)
        principal.check_name(name)
        filters = Filters.of(request)
        backwards = request.query_params.get("backwards") == "true"
        version = await ctx.store.stream_version(name)
        if version == 0 or not [e async for e in ctx.store.read(name, limit=1)]:
            raise ApiError(404, "StreamNotFound", f"stream {name!r} does not exist")
        events: list[RecordedEvent] = []
        scanned, last = 0, None
        async for e in ctx.store.read(
            name, from_version=_int(request, "from"), backwards=backwards, as_of=filters.until_at
        ):
            scanned, last = scanned + 1, e.version
            if filters.matches(e):
                events.append(e)
            if len(events) >= PAGE or scanned >= SCAN:
                break
        more = last is not None and (len(events) >= PAGE or scanned >= SCAN)
        next_from = (last - 1 if backwards else last + 1) if more and last is not None else None
        next_query = {
            "name": name, "from": next_from, "type": filters.type, "since": filters.since,
            "until": filters.until, "backwards": "true" if backwards else "",
        }  # fmt: skip
        return await self.r.page(
            request, "stream.html", "/streams", principal=principal, name=name,
            version=version, events=events, filters=filters, backwards=backwards,
            next_from=next_from if next_from else None, next_query=next_query, error=None,
            title=name,
        )  # fmt: skip

    async def event(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        stream = request.query_params.get("stream", "")
        version = _int(request, "version")
        principal.check_name(stream)
        found = None
        if version:
            async for e in ctx.store.read(stream, from_version=version, limit=1):
                found = e if e.version == version else None
        if found is None:
            raise ApiError(404, "NotFound", f"no event {stream!r}@{version}")
        correlation = found.metadata.get(CORRELATION_ID)
        correlation_id = correlation if isinstance(correlation, str) else str(found.id)
        return await self.r.page(
            request, "event.html", "/streams", principal=principal, event=found,
            correlation_id=correlation_id, title=f"{found.type} {found.stream}@{found.version}",
        )  # fmt: skip

    async def events(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        filters = Filters.of(request)
        asked = request.query_params.get("prefix", "")
        prefix = narrow_prefix(principal.prefix, asked)
        after = _int(request, "after") or 0
        events: list[RecordedEvent] = []
        scanned, last = 0, None
        if prefix is not None:
            types = sorted(filters.types) if filters.types else None
            async for e in ctx.store.read_all(after=after, types=types, stream_prefix=prefix):
                scanned, last = scanned + 1, e.position
                if filters.matches(e):
                    events.append(e)
                if len(events) >= PAGE or scanned >= SCAN:
                    break
        more = last is not None and (len(events) >= PAGE or scanned >= SCAN)
        next_query = {
            "after": last, "prefix": asked, "type": filters.type, "since": filters.since,
            "until": filters.until,
        }  # fmt: skip
        return await self.r.page(
            request, "events.html", "/events", principal=principal, events=events,
            filters=_FiltersView(filters, asked), next_after=last if more else None,
            next_query=next_query, error=None, title="All events",
        )  # fmt: skip

    async def tail(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        prefix = request.query_params.get("prefix", "")
        types = request.query_params.get("types", "")
        after = await ctx.store.last_position()
        live = "/live?" + urlencode(
            {"tail": "true", "after": after, **({"prefix": prefix} if prefix else {}),
             **({"types": types} if types else {})}
        )  # fmt: skip
        return await self.r.page(
            request, "tail.html", "/tail", principal=principal, live=live, after=after,
            prefix=prefix, types=types, title="Live tail",
        )  # fmt: skip

    async def dead_letters(self, request: Request, principal: Principal) -> Response:
        group = request.query_params.get("group") or None
        context = await letters_context(request, principal, group)
        return await self.r.page(
            request, "dead_letters.html", "/dead-letters", principal=principal,
            title="Dead letters", **context,
        )  # fmt: skip

    async def trace(self, request: Request, principal: Principal) -> Response:
        ctx = context_of(request)
        correlation_id = request.query_params.get("correlation_id", "").strip()
        chain = None
        if correlation_id:
            chain = await load_trace(ctx, principal, check_correlation_id(correlation_id))
        depth: dict[str, int] = {}
        hops = []
        for node in chain.nodes if chain is not None else []:
            level = depth.get(node.parent or "", -1) + 1
            depth[node.key] = level
            hops.append((level, node))
        return await self.r.page(
            request, "trace.html", "/trace", principal=principal,
            correlation_id=correlation_id, hops=hops,
            found=chain is not None and bool(chain.events),
            diagram=chain.mermaid() if chain is not None and chain.events else "",
            title="Causal chain",
        )  # fmt: skip


class _FiltersView:
    """The filters of the all-events page, with its stream prefix."""

    def __init__(self, filters: Filters, prefix: str) -> None:
        self.type, self.since, self.until, self.prefix = (
            filters.type, filters.since, filters.until, prefix,
        )  # fmt: skip


async def letters_context(
    request: Request, principal: Principal, group: str | None, message: str = ""
) -> dict[str, Any]:
    """What the dead-letter list shows (the page and its htmx fragment)."""
    ctx = context_of(request)
    letters = await visible_letters(ctx.bus, principal, group, None, None)
    return {
        "letters": letters[:LETTERS_SHOWN],
        "count": len(letters),
        "group": group,
        "can_admin": principal.scope.includes(Scope.ADMIN),
        "message": message,
    }
