"""The chat's WebSocket endpoint (``/demos/chat/ws``) as a plain ASGI app:
the handshake, the ``hello`` that names the user, then one reader and one
writer per connection until either side ends it.

Example::

    WebSocketRoute("/ws", ChatEndpoint(service))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import orjson

from .connection import Connection
from .names import ChatError, check_user
from .protocol import Protocol
from .records import dumps

if TYPE_CHECKING:
    from .service import ChatService

__all__ = ["ChatEndpoint"]

log = logging.getLogger("eventflux.demos.chat")

Receive = Any
Send = Any


class ChatEndpoint:
    """An ASGI app serving the chat's WebSockets on the node of ``service``."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self._protocols: dict[int, Protocol] = {}

    def _protocol(self) -> Protocol | None:
        node = self.service.node
        if node is None:
            return None
        found = self._protocols.get(id(node))
        if found is None or found.node is not node:
            self._protocols = {id(node): Protocol(node)}
            found = self._protocols[id(node)]
        return found

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("a WebSocket endpoint", status_code=426)(scope, receive, send)
            return
        if (await receive())["type"] != "websocket.connect":
            return
        protocol = self._protocol()
        if protocol is None or not protocol.node.started.is_set():
            await send({"type": "websocket.close", "code": 1013, "reason": "the chat is starting"})
            return
        node = protocol.node
        await send({"type": "websocket.accept"})
        try:
            await node.attach(scope.get("server"))
            hello = await self._hello(receive, send, node.settings.presence_timeout)
        except ChatError as e:
            error = {"type": "error", "op": "hello", "error": {"type": e.kind, "message": str(e)}}
            await send({"type": "websocket.send", "text": dumps(error)})
            await send({"type": "websocket.close", "code": 1008, "reason": e.kind})
            return
        if hello is None:
            return
        user, client = hello
        conn = Connection(node.new_id(), user, client, send, node.store, node.settings)
        node.add(conn)
        welcome = {
            "type": "welcome",
            "user": user,
            "client": client,
            "node": node.id,
            "presence_timeout": node.settings.presence_timeout,
            "heartbeat": node.settings.heartbeat,
            "limits": node.settings.limits(),
        }
        conn.offer(dumps(welcome))
        await self._run(protocol, conn, receive, send)

    async def _hello(self, receive: Receive, send: Send, wait: float) -> tuple[str, str] | None:
        """The first frame: ``{"op": "hello", "user": "ann", "client": "tab-1"}``."""
        try:
            async with asyncio.timeout(wait):
                message = await receive()
        except TimeoutError:
            await send({"type": "websocket.close", "code": 4001, "reason": "no hello"})
            return None
        if message["type"] != "websocket.receive":
            return None
        raw = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
        try:
            frame = orjson.loads(raw) if len(raw) < 4096 else None
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, dict) or frame.get("op") != "hello":
            raise ChatError("BadRequest", 'the first frame is {"op": "hello", "user": "..."}')
        user = check_user(frame.get("user"))
        client = frame.get("client")
        if not isinstance(client, str) or not 1 <= len(client) <= 64 or not client.isprintable():
            client = f"c{id(frame):x}"
        return user, client

    async def _run(
        self, protocol: Protocol, conn: Connection, receive: Receive, send: Send
    ) -> None:
        node = protocol.node
        writer = asyncio.ensure_future(conn.write_loop())
        reader = asyncio.ensure_future(self._read(protocol, conn, receive))
        closer = asyncio.ensure_future(conn.closed.wait())
        try:
            await asyncio.wait({writer, reader, closer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            node.remove(conn)
            for task in (writer, reader, closer):
                task.cancel()
            await asyncio.gather(writer, reader, closer, return_exceptions=True)
        if conn.closing is not None:
            code, reason = conn.closing
            with contextlib.suppress(Exception):
                # a reader that does not read may never take the close frame
                async with asyncio.timeout(1.0):
                    await send({"type": "websocket.close", "code": code, "reason": reason})

    async def _read(self, protocol: Protocol, conn: Connection, receive: Receive) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", "replace")
            try:
                await protocol.handle(conn, raw)
            except Exception as e:  # a bug or an outage: the client hears of it
                log.exception("chat: an operation failed")
                conn.offer(dumps({"type": "error", "error": {
                    "type": type(e).__name__, "message": "the server failed; retry"}}))  # fmt: skip
            if conn.closing is not None:
                return
