"""One server process of the chat (a *node*): its connections, the rooms
they follow, and the one store subscription that feeds them all.

Fan-out goes through the store: each node follows every chat stream with one
subscription (``store.subscribe(stream_prefix="chat-")``) and hands each
event, encoded once, to the connections that follow its room. A message sent
through any node reaches the members on every node the same way, so the
latency is the same wherever the sender is: a local append wakes the
subscription at once, another process's append within the store's watch
interval (10 ms on SQLite; a notification on PostgreSQL). What is never
stored (presence, typing) goes between the nodes over the bus
(:mod:`.beacon`).

Example::

    node = ChatNode(store, bus, settings, read_model)
    task = asyncio.create_task(node.run())      # the App's background task
    await node.serve(scope, receive, send)      # one WebSocket, until it closes
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ...bus import MessageBus
from ...cqrs import ReadModel
from ...events import RecordedEvent
from ...store import EventStore
from .beacon import Beacon, group_for
from .connection import CLOSE_TIMEOUT, Connection, Feed
from .names import DM_PREFIX, STREAM_PREFIX, participants, room_of, stream_of
from .presence import PresenceTable
from .records import POSTED, dumps, event_frame
from .settings import ChatSettings

__all__ = ["ChatNode"]

log = logging.getLogger("eventflux.demos.chat")


class ChatNode:
    """The chat in one server process."""

    def __init__(
        self,
        store: EventStore,
        bus: MessageBus,
        settings: ChatSettings,
        read_model: ReadModel,
        settle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self._settle = settle
        self.store = store
        self.bus = bus
        self.settings = settings
        self.read_model = read_model
        self.presence = PresenceTable(self.id, settings.presence_timeout)
        self.connections: dict[int, Connection] = {}
        self.followers: dict[str, set[Feed]] = {}
        self.by_user: dict[str, set[Connection]] = {}
        self.beacon: Beacon | None = None
        self._attach: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self.stats = {"connected": 0, "dropped": 0, "timed_out": 0, "events": 0}
        self.started = asyncio.Event()

    # -- running ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Follow the chat streams and watch liveness until cancelled; then close
        every connection and tell the other nodes."""
        after = await self.store.last_position()
        follow = asyncio.ensure_future(self._follow(after))
        sweep = asyncio.ensure_future(self._sweep())
        self.started.set()
        try:
            await asyncio.gather(follow, sweep)
        finally:
            follow.cancel()
            sweep.cancel()
            for conn in list(self.connections.values()):
                conn.close(1012, "the server restarts: reconnect")
            if self.beacon is not None:
                await self.beacon.stop()
            with contextlib.suppress(BaseException):
                await asyncio.gather(follow, sweep, return_exceptions=True)

    async def settled(self, within: float = 2.0) -> None:
        """Wait (up to ``within`` seconds) until the rooms read model holds every
        event stored now (a membership check then sees a join just made)."""
        if self._settle is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self._settle()

    async def attach(self, server: Any) -> None:
        """Join the other nodes over the bus (once, when the first client
        connects: the server's address names this node's consumer group)."""
        if self._attach is None:
            beacon = Beacon(self, self.bus, group_for(server))
            self._attach = asyncio.ensure_future(beacon.start())
            self.beacon = beacon
        await asyncio.shield(self._attach)

    async def _follow(self, after: int) -> None:
        while True:
            try:
                async for e in self.store.subscribe(after=after, stream_prefix=STREAM_PREFIX):
                    after = e.position
                    self._fan_out(e)
                return  # the store closed
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("chat: following the store failed (%s: %s); again", type(e).__name__, e)
                await asyncio.sleep(0.5)

    def _fan_out(self, e: RecordedEvent) -> None:
        self.stats["events"] += 1
        feeds = self.followers.get(e.stream)
        if feeds:
            room = room_of(e.stream) or e.stream
            text = event_frame(room, e)
            for feed in list(feeds):
                feed.conn.offer((feed, e.version, text))
        if e.type == POSTED and e.stream.startswith(DM_PREFIX):
            room = room_of(e.stream) or e.stream
            sender = e.data.get("user") if isinstance(e.data, dict) else None
            notice = dumps({"type": "dm_notice", "room": room, "from": sender})
            for user in participants(room):
                for conn in list(self.by_user.get(user, ())):
                    if room not in conn.feeds:
                        conn.offer(notice)

    async def _sweep(self) -> None:
        """Close the connections silent for the presence timeout; forget the
        nodes silent for as long."""
        timeout = self.settings.presence_timeout
        every = min(1.0, timeout / 10)
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if now - conn.last_seen > timeout:
                    self.stats["timed_out"] += 1
                    conn.close(CLOSE_TIMEOUT, f"nothing heard for {timeout:g} s: presence timeout")
            rooms = self.presence.expire()
            if rooms:
                self.announce(rooms)

    # -- connections, rooms, presence ------------------------------------------------------
    def add(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        self.by_user.setdefault(conn.user, set()).add(conn)
        self.stats["connected"] += 1

    def new_id(self) -> int:
        return next(self._ids)

    def remove(self, conn: Connection) -> None:
        """A connection ended: it follows nothing more, its member may go offline."""
        if conn.closing is not None and conn.closing[0] == 4008:
            self.stats["dropped"] += 1
        for room in list(conn.feeds):
            self.unfollow(conn, room)
        self.connections.pop(conn.id, None)
        mine = self.by_user.get(conn.user)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.by_user[conn.user]

    def follow(self, feed: Feed) -> None:
        """``feed``'s connection follows its room from now on (live events are
        queued for it from this call on)."""
        conn = feed.conn
        old = conn.feeds.get(feed.room)
        if old is not None:
            old.active = False
            self.followers.get(old.stream, set()).discard(old)
        conn.feeds[feed.room] = feed
        self.followers.setdefault(feed.stream, set()).add(feed)

    def present(self, conn: Connection, room: str) -> None:
        """``conn`` is present in ``room``: the others hear of it, and ``conn``
        gets the room's presence (after what was queued for it before)."""
        self._set_presence(conn, [room], conn.state, skip=conn)
        conn.offer(
            dumps({"type": "presence", "room": room, "members": self.presence.announced(room)})
        )

    def unfollow(self, conn: Connection, room: str) -> None:
        feed = conn.feeds.pop(room, None)
        if feed is None:
            return
        feed.active = False
        feeds = self.followers.get(feed.stream)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self.followers[feed.stream]
        self._set_presence(conn, [room], None)

    def set_state(self, conn: Connection, state: str) -> None:
        """``conn`` is online or away now, in every room it follows."""
        conn.state = state
        self._set_presence(conn, list(conn.feeds), state)

    def _set_presence(
        self, conn: Connection, rooms: list[str], state: str | None, skip: Connection | None = None
    ) -> None:
        changed = False
        for room in rooms:
            changed = self.presence.put(conn.id, room, conn.user, state) or changed
        if changed and self.beacon is not None:
            self.beacon.changed()
        self.announce(rooms, skip=skip)

    def announce(self, rooms: Iterable[str], skip: Connection | None = None) -> None:
        """Send the presence changes of ``rooms`` to the connections here that
        follow them."""
        for room, joins, leaves in self.presence.changes(rooms):
            feeds = self.followers.get(stream_of(room))
            if not feeds:
                continue
            text = dumps({"type": "presence_diff", "room": room, "joins": joins, "leaves": leaves})
            for feed in list(feeds):
                if feed.conn is not skip:
                    feed.conn.offer(text)

    def typing_here(self, room: str, user: str, skip: Connection | None = None) -> None:
        """Tell the connections here that follow ``room`` that ``user`` types."""
        feeds = self.followers.get(stream_of(room))
        if not feeds:
            return
        text = dumps({"type": "typing", "room": room, "user": user})
        for feed in list(feeds):
            if feed.conn.user != user and feed.conn is not skip:
                feed.conn.offer(text)

    def describe(self) -> dict[str, Any]:
        """What this node holds now (the ``/demos/chat/stats`` route)."""
        return {
            "node": self.id,
            "group": self.beacon.group if self.beacon is not None else None,
            "connections": len(self.connections),
            "users": sorted(self.by_user),
            "rooms": {room_of(s) or s: len(f) for s, f in sorted(self.followers.items())},
            "peers": self.presence.peers,
            "presence": self.presence.online_counts(),
            **self.stats,
        }
