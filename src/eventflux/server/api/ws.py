"""``WS /api/ws``: store and bus subscriptions over one WebSocket, as JSON text frames.

The frame protocol (docs/server.md has the whole of it):

client -> server: ``{"op": "auth", "token"}`` (first, when neither the
``Authorization`` header nor the dashboard cookie came with the handshake),
``{"op": "subscribe", "sub", "source": "store", "after"?, "types"?,
"stream_prefix"?}``, ``{"op": "subscribe", "sub", "source": "bus", "subject",
"group", "ack"?: "auto"|"client", "max_deliver"?, "concurrency"?}``,
``{"op": "unsubscribe", "sub"}``, ``{"op": "ack"|"nak", "sub", "delivery",
"reason"?}``, ``{"op": "ping"}``.

server -> client: ``welcome``, ``subscribed``, ``event`` (``event``: the event
JSON), ``message`` (``delivery``, ``message``), ``unsubscribed``, ``dropped``
(a store subscription whose reader fell behind; ``after`` says where to
resume), ``error`` (``error``: type, message, status), ``pong``, ``closing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ...exceptions import EventfluxError
from ..auth import COOKIE, Principal
from ..context import ServerContext, context_of
from ..errors import ApiError, error_for, error_response
from ..jsonio import check_depth, dumps
from ..module import ServerModule
from ..tokens import Scope
from .ws_subs import BusSubscription, Outbox, Subscription, parse_subscribe

__all__ = ["MODULE", "websocket"]

log = logging.getLogger("eventflux.server")

_AUTH_TIMEOUT: Final = 10.0
_MAX_SUBSCRIPTIONS: Final = 64


def _error_frame(error: ApiError, sub: object = None) -> dict[str, Any]:
    body = error.body()["error"]
    frame: dict[str, Any] = {"type": "error", "error": {**body, "status": error.status}}
    if sub is not None:
        frame["sub"] = sub
    return frame


def _as_api_error(exc: Exception) -> ApiError:
    mapped = error_for(exc)
    if mapped is not None:
        return mapped
    return ApiError(500, "InternalError", "the server failed; see its log")


class Session:
    """One WebSocket connection: its principal, subscriptions and outbox."""

    def __init__(self, ws: WebSocket, ctx: ServerContext, principal: Principal) -> None:
        self.ws = ws
        self.ctx = ctx
        self.principal = principal
        self.outbox = Outbox(ctx.settings.live_queue)
        self.subs: dict[str, Subscription] = {}

    async def send(self, frame: dict[str, Any]) -> None:
        await self.outbox.put(dumps(frame))

    async def run(self) -> None:
        writer = asyncio.ensure_future(self.outbox.drain(self.ws))
        closing = asyncio.ensure_future(self.ctx.closing.wait())
        reader = asyncio.ensure_future(self._read())
        try:
            await asyncio.wait({writer, closing, reader}, return_when=asyncio.FIRST_COMPLETED)
            if closing.done():
                with contextlib.suppress(Exception):
                    frame = {"type": "closing", "reason": "the server is shutting down"}
                    await self.ws.send_text(dumps(frame).decode())
                    await self.ws.close(1001)
        finally:
            for task in (writer, closing, reader):
                task.cancel()
            for task in (writer, closing, reader):
                with contextlib.suppress(BaseException):
                    await task
            await self.close_all()

    async def close_all(self) -> None:
        self.outbox.fail_pending()  # nothing more will be written
        subs, self.subs = list(self.subs.values()), {}
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.stop()

    async def _read(self) -> None:
        while True:
            try:
                text = await self.ws.receive_text()
            except WebSocketDisconnect:
                return
            except (RuntimeError, KeyError):  # a binary frame, or the socket went away
                await self.send(_error_frame(ApiError(400, "BadRequest", "send JSON text frames")))
                continue
            sub: object = None
            try:
                frame = orjson.loads(text)
                if type(frame) is not dict:
                    raise ApiError(400, "BadRequest", "a frame is a JSON object with an 'op'")
                check_depth(frame, self.ctx.settings.max_json_depth)
                sub = frame.get("sub")
                await self._handle(frame)
            except orjson.JSONDecodeError as e:
                await self.send(_error_frame(ApiError(400, "BadRequest", f"not JSON: {e}")))
            except ApiError as e:
                await self.send(_error_frame(e, sub))
            except EventfluxError as e:
                await self.send(_error_frame(_as_api_error(e), sub))
            except Exception as e:  # a bug: say so, keep the connection
                log.error("WebSocket frame failed: %r", text[:200], exc_info=e)
                await self.send(_error_frame(_as_api_error(e), sub))

    async def _handle(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "ping":
            await self.send({"type": "pong"})
        elif op == "subscribe":
            await self._subscribe(frame)
        elif op == "unsubscribe":
            sub = self._sub(frame)
            del self.subs[sub.sub_id]
            await sub.stop()
            await self.send({"type": "unsubscribed", "sub": sub.sub_id})
        elif op in ("ack", "nak"):
            sub = self._sub(frame)
            if not isinstance(sub, BusSubscription):
                raise ApiError(400, "BadRequest", "ack and nak are for bus subscriptions")
            sub.settle(frame, ack=op == "ack")
        elif op == "auth":
            raise ApiError(400, "BadRequest", "this connection is already authenticated")
        else:
            raise ApiError(400, "BadRequest", f"unknown op {op!r}"[:200])

    def _sub(self, frame: dict[str, Any]) -> Subscription:
        sub = self.subs.get(frame.get("sub"))  # type: ignore[arg-type]
        if sub is None:
            raise ApiError(404, "NotFound", f"no subscription {frame.get('sub')!r}"[:200])
        return sub

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        sub = parse_subscribe(frame, self)
        if sub.sub_id in self.subs:
            raise ApiError(400, "BadRequest", f"subscription {sub.sub_id!r} exists already")
        if len(self.subs) >= _MAX_SUBSCRIPTIONS:
            raise ApiError(400, "BadRequest", f"at most {_MAX_SUBSCRIPTIONS} subscriptions")
        await sub.start()
        self.subs[sub.sub_id] = sub
        await self.send({"type": "subscribed", "sub": sub.sub_id, **sub.describe()})


async def _deny(ws: WebSocket, error: ApiError) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error_response(error))
    else:  # pragma: no cover - servers without the denial extension
        await ws.close(1008, error.message[:120])


async def _authenticate(ws: WebSocket, ctx: ServerContext) -> Principal | None:
    """The principal, from the handshake (the socket is then not accepted yet)
    or from a first ``auth`` frame (the socket is then accepted)."""
    credentials = "authorization" in ws.headers or COOKIE in ws.cookies
    if credentials or await ctx.auth.is_open():
        try:
            return await ctx.auth.require(ws, Scope.READ)
        except ApiError as e:
            await _deny(ws, e)
            return None
    await ws.accept()
    try:
        text = await asyncio.wait_for(ws.receive_text(), _AUTH_TIMEOUT)
        frame = orjson.loads(text)
        token = frame.get("token") if type(frame) is dict and frame.get("op") == "auth" else None
        if not isinstance(token, str):
            raise ApiError(401, "Unauthorized", 'send {"op": "auth", "token": "..."} first')
        principal = await ctx.auth.identify(ws, token=token)
        principal.check_scope(Scope.READ)
        return principal
    except (TimeoutError, orjson.JSONDecodeError, WebSocketDisconnect, RuntimeError, KeyError):
        error = ApiError(401, "Unauthorized", 'send {"op": "auth", "token": "..."} first')
    except ApiError as e:
        error = e
    with contextlib.suppress(Exception):
        await ws.send_text(dumps(_error_frame(error)).decode())
        await ws.close(1008)
    return None


async def websocket(ws: WebSocket) -> None:
    """Serve one WebSocket connection."""
    ctx = context_of(ws)
    principal = await _authenticate(ws, ctx)
    if principal is None:
        return
    accepted = ws.application_state == WebSocketState.CONNECTED
    try:
        ctx.limiter.acquire(principal.key)
    except ApiError as e:
        if not accepted:
            await _deny(ws, e)
            return
        with contextlib.suppress(Exception):
            await ws.send_text(dumps(_error_frame(e)).decode())
            await ws.close(1013)
        return
    try:
        if not accepted:
            await ws.accept()
        session = Session(ws, ctx, principal)
        await session.send(
            {
                "type": "welcome",
                "open": principal.open,
                "scope": principal.scope.value,
                "prefix": principal.prefix,
            }
        )
        await session.run()
    finally:
        ctx.limiter.release(principal.key)


MODULE = ServerModule(
    "ws",
    routes=[WebSocketRoute("/api/ws", websocket)],
)
