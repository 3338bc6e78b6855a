"""The peer of ``benchmarks/chat.py``: a minimal python-socketio chat server
(rooms in memory, no history), served by uvicorn as eventflux serve is.

Run: python benchmarks/_chat_socketio.py PORT

Events: ``join`` ``{"room"}`` enters the room; ``send`` ``{"room", "text"}``
emits ``message`` ``{"room", "user", "text"}`` to everyone in the room
(sender included) and acknowledges with ``{"ok": true}``.
"""

from __future__ import annotations

import sys
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[], logger=False)
app = socketio.ASGIApp(sio)


@sio.event
async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    await sio.enter_room(sid, data["room"])
    return {"ok": True}


@sio.event
async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    await sio.emit("message", data, room=data["room"])
    return {"ok": True}


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        ws="websockets-sansio",
        lifespan="off",
    )
