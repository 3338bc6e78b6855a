"""The chat's operations: what a client asks over its WebSocket, and what it
is answered. Frames are JSON text; docs/chat.md lists them all.

Every operation but ``ping``, ``status`` and ``typing`` takes a token from
the connection's bucket; without one it is refused with ``RateLimited`` (and
its ``retry_after``), and a client that goes on regardless is closed (1008).
A refused operation is answered with an ``error`` frame naming the ``op``,
its ``cid`` and ``room`` when it had them, and ``error.type``.

Example::

    protocol = Protocol(node)
    await protocol.handle(conn, '{"op": "send", "room": "general", "text": "hi", "cid": "c1"}')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson

from ...events import NewEvent
from ...exceptions import ConcurrencyError
from ...store import NO_STREAM
from .connection import Connection, Feed
from .names import (
    ChatError,
    check_room,
    check_text,
    check_user,
    dm_room,
    is_dm,
    participants,
    stream_of,
)
from .node import ChatNode
from .presence import STATES
from .records import (
    CREATED,
    DELETED,
    EDITED,
    JOINED,
    LEFT,
    POSTED,
    dumps,
    event_item,
    message_id,
)
from .rooms import conversations, is_member, list_rooms

__all__ = ["EDIT_WINDOW", "Protocol"]

log = logging.getLogger("eventflux.demos.chat")

#: a message can be edited or deleted while its room holds fewer newer events
EDIT_WINDOW: Final = 10_000
_FREE: Final = frozenset({"ping", "status", "typing"})

Op = Callable[[Connection, dict[str, Any]], Awaitable[None]]


def _cid(frame: dict[str, Any]) -> str:
    cid = frame.get("cid")
    if not isinstance(cid, str) or not 1 <= len(cid) <= 64 or not cid.isprintable():
        raise ChatError(
            "BadRequest", "'cid' (the client's message id) is 1 to 64 printable characters"
        )
    return cid


def _int(frame: dict[str, Any], key: str, *, low: int, default: int | None = None) -> int:
    value = frame.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ChatError("BadRequest", f"{key!r} must be an integer >= {low}, not {value!r}")
    return value


class Protocol:
    """The operations of one node's connections."""

    def __init__(self, node: ChatNode) -> None:
        self.node = node
        self.store = node.store
        self.settings = node.settings
        self._ops: dict[str, Op] = {
            "rooms": self.rooms,
            "create": self.create,
            "join": self.join,
            "leave": self.leave,
            "history": self.history,
            "send": self.send,
            "edit": self.edit,
            "delete": self.delete,
            "dm": self.dm,
        }

    async def handle(self, conn: Connection, raw: str) -> None:
        """Run one frame of ``conn``'s client."""
        conn.last_seen = time.monotonic()
        if len(raw) > self.settings.max_frame:
            conn.close(1009, f"a frame holds at most {self.settings.max_frame} bytes")
            return
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._error(conn, {}, ChatError("BadRequest", "a frame is a JSON object"))
            return
        if not isinstance(frame, dict):
            self._error(conn, {}, ChatError("BadRequest", "a frame is a JSON object"))
            return
        op = frame.get("op")
        try:
            if op in _FREE:
                self._free(conn, op, frame)
                return
            fn = self._ops.get(op) if isinstance(op, str) else None
            if fn is None:
                raise ChatError("UnknownOp", f"no operation {str(op)[:40]!r}; see docs/chat.md")
            wait = conn.bucket.take()
            if wait:
                conn.refused += 1
                if conn.refused > 2 * self.settings.burst:
                    conn.close(1008, "rate limit: too many operations refused in a row")
                    return
                raise ChatError(
                    "RateLimited",
                    f"at most {self.settings.rate:g} operations a second; retry later",
                    retry_after=round(wait, 3),
                )
            conn.refused = 0
            await fn(conn, frame)
        except ChatError as e:
            self._error(conn, frame, e)

    def _error(self, conn: Connection, frame: dict[str, Any], e: ChatError) -> None:
        out: dict[str, Any] = {"type": "error", "op": frame.get("op")}
        for key in ("cid", "room"):
            if isinstance(frame.get(key), str):
                out[key] = frame[key][:64]
        out["error"] = {"type": e.kind, "message": str(e), **e.extra}
        conn.offer(dumps(out))

    def _free(self, conn: Connection, op: str, frame: dict[str, Any]) -> None:
        if op == "ping":
            conn.offer(dumps({"type": "pong", "t": frame.get("t")}))
        elif op == "status":
            state = frame.get("state")
            if state not in STATES:
                raise ChatError("BadRequest", f"'state' is one of {list(STATES)}")
            if state != conn.state:
                self.node.set_state(conn, state)
        else:  # typing: throttled, never stored
            room = frame.get("room")
            if not isinstance(room, str) or room not in conn.feeds:
                return
            now = time.monotonic()
            if now - conn.typing_at.get(room, -1e9) < self.settings.typing_interval:
                return
            conn.typing_at[room] = now
            self.node.typing_here(room, conn.user, skip=conn)
            if self.node.beacon is not None:
                beacon = self.node.beacon
                beacon.spawn_typing(room, conn.user)

    # -- rooms ---------------------------------------------------------------------------
    async def rooms(self, conn: Connection, frame: dict[str, Any]) -> None:
        rows = await list_rooms(self.node.read_model)
        present = self.node.presence.online_counts()
        for row in rows:
            row["online"] = present.get(row["room"], 0)
        dms = await conversations(self.node.read_model, conn.user)
        conn.offer(dumps({"type": "rooms", "rooms": rows, "dms": dms}))

    async def create(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = check_room(frame.get("room"), dm=False)
        meta = {"actor": conn.user}
        try:
            r = await self.store.append(
                stream_of(room),
                [
                    NewEvent(CREATED, {"room": room, "user": conn.user}, metadata=meta),
                    NewEvent(JOINED, {"user": conn.user}, metadata=meta),
                ],
                expected_version=NO_STREAM,
            )
        except ConcurrencyError:
            raise ChatError("RoomExists", f"room {room!r} exists already: join it") from None
        conn.offer(dumps({"type": "created", "room": room, "version": r.last_version}))

    async def dm(self, conn: Connection, frame: dict[str, Any]) -> None:
        other = check_user(frame.get("with"))
        room = dm_room(conn.user, other)
        conn.offer(dumps({"type": "dm", "room": room, "with": other}))

    async def join(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = check_room(frame.get("room"))
        after = frame.get("after")
        if after is not None:
            after = _int(frame, "after", low=0)
        count = min(_int(frame, "history", low=0, default=self.settings.history),
                    self.settings.max_page)  # fmt: skip
        stream = stream_of(room)
        if is_dm(room):
            if conn.user not in participants(room):
                raise ChatError("Forbidden", "a direct conversation is for its two users only")
        else:
            if await self.store.stream_version(stream) == 0:
                raise ChatError("NoSuchRoom", f"there is no room {room!r}: create it first")
            await self.node.settled()
            if not await is_member(self.node.read_model, room, conn.user):
                await self.store.append(
                    stream, [NewEvent(JOINED, {"user": conn.user}, metadata={"actor": conn.user})]
                )
        # from here to the end, no await: the feed follows the room before the
        # catch-up is queued, so the live events and the catch-up meet exactly
        feed = Feed(conn, room, stream)
        self.node.follow(feed)
        if after is None:
            conn.offer(self._recent(conn, feed, count))
        else:
            feed.next = after + 1
            conn.offer(dumps({"type": "joined", "room": room, "after": after, "resumed": True}))
            conn.offer(lambda: conn.fill(feed))
        self.node.present(conn, room)

    def _recent(self, conn: Connection, feed: Feed, count: int) -> Callable[[], Awaitable[None]]:
        async def recent() -> None:
            events = []
            if count:
                events = [
                    e async for e in self.store.read(feed.stream, backwards=True, limit=count)
                ]
                events.reverse()
            head = events[-1].version if events else await self.store.stream_version(feed.stream)
            if not feed.active:
                return
            feed.next = max(feed.next, head + 1)
            await conn.text(
                dumps(
                    {
                        "type": "joined",
                        "room": feed.room,
                        "version": head,
                        "events": [event_item(e) for e in events],
                        "more": bool(events) and events[0].version > 1,
                    }
                )
            )

        return recent

    async def leave(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = check_room(frame.get("room"))
        followed = room in conn.feeds
        self.node.unfollow(conn, room)
        await self.node.settled()
        if not is_dm(room) and (followed or await is_member(self.node.read_model, room, conn.user)):
            await self.store.append(
                stream_of(room),
                [NewEvent(LEFT, {"user": conn.user}, metadata={"actor": conn.user})],
            )
        conn.offer(dumps({"type": "left", "room": room}))

    async def history(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = self._followed(conn, frame)
        before = _int(frame, "before", low=1)
        limit = min(
            _int(frame, "limit", low=1, default=self.settings.history), self.settings.max_page
        )
        events = []
        if before > 1:
            read = self.store.read(
                stream_of(room), from_version=before - 1, backwards=True, limit=limit
            )
            events = [e async for e in read]
            events.reverse()
        conn.offer(
            dumps(
                {
                    "type": "history",
                    "room": room,
                    "before": before,
                    "events": [event_item(e) for e in events],
                    "more": bool(events) and events[0].version > 1,
                }
            )
        )

    def _followed(self, conn: Connection, frame: dict[str, Any]) -> str:
        room = check_room(frame.get("room"))
        if room not in conn.feeds:
            raise ChatError("NotInRoom", f"join {room!r} first")
        return room

    # -- messages ----------------------------------------------------------------------------
    async def send(self, conn: Connection, frame: dict[str, Any]) -> None:
        room = self._followed(conn, frame)
        cid = _cid(frame)
        text = check_text(frame.get("text"), self.settings.max_text)
        event_id = message_id(conn.user, room, cid)
        data = {"user": conn.user, "text": text, "cid": cid}
        r = await self.store.append(
            stream_of(room), [NewEvent(POSTED, data, metadata={"actor": conn.user}, id=event_id)]
        )
        self._ack(conn, room, cid, str(event_id), r.last_version, r.position)

    def _ack(
        self, conn: Connection, room: str, cid: str, ident: str, version: int, pos: int
    ) -> None:
        conn.offer(dumps({"type": "ack", "cid": cid, "room": room, "id": ident,
                          "version": version, "position": pos}))  # fmt: skip

    async def edit(self, conn: Connection, frame: dict[str, Any]) -> None:
        text = check_text(frame.get("text"), self.settings.max_text)
        await self._change(conn, frame, EDITED, {"text": text})

    async def delete(self, conn: Connection, frame: dict[str, Any]) -> None:
        await self._change(conn, frame, DELETED, {})

    async def _change(
        self, conn: Connection, frame: dict[str, Any], kind: str, extra: dict[str, Any]
    ) -> None:
        """Edit or delete a message of ``conn``'s user: checked against the room's
        events since the message, appended only if none came meanwhile."""
        room = self._followed(conn, frame)
        cid = _cid(frame)
        target = _int(frame, "version", low=1)
        stream = stream_of(room)
        op = "edit" if kind == EDITED else "delete"
        event_id = message_id(conn.user, room, cid, op)
        for _ in range(10):
            head = 0
            async for e in self.store.read(stream, from_version=target, limit=EDIT_WINDOW + 1):
                head = e.version
                data = e.data if isinstance(e.data, dict) else {}
                if e.version == target:
                    if e.type != POSTED:
                        raise ChatError(
                            "NoSuchMessage", f"version {target} of {room!r} is no message"
                        )
                    if data.get("user") != conn.user:
                        raise ChatError("Forbidden", "only its author can change a message")
                elif e.id == event_id:  # a resend of a change already made
                    self._ack(conn, room, cid, str(e.id), e.version, e.position)
                    return
                elif e.type == DELETED and data.get("target") == target:
                    raise ChatError("MessageDeleted", "that message was deleted")
            if head == 0:
                raise ChatError("NoSuchMessage", f"{room!r} has no version {target}")
            if head - target >= EDIT_WINDOW:
                raise ChatError(
                    "TooOld", f"only the last {EDIT_WINDOW} events of a room can change"
                )
            data = {"user": conn.user, "target": target, "cid": cid, **extra}
            new = NewEvent(kind, data, metadata={"actor": conn.user}, id=event_id)
            try:
                r = await self.store.append(stream, [new], expected_version=head)
            except ConcurrencyError:
                continue  # something came meanwhile: check again
            self._ack(conn, room, cid, str(event_id), r.last_version, r.position)
            return
        raise ChatError("Busy", "the room changes too fast to change that message now; retry")
