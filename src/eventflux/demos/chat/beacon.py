"""What the server processes of one chat tell each other over the bus:
presence (hello, deltas, full snapshots as heartbeats, bye) and typing
notices. Nothing here is stored: it lives on the bus only.

Each server process subscribes ``chat.live.>`` in a consumer group of its
own, named after its host and port (``chat-node-<host>-<port>``): every
process receives every notice, and a process restarted on the same address
takes its group back (notices older than the presence timeout are skipped).
Notices of one process carry its node id as key, so each process handles
another's notices in the order they were sent.

Example::

    beacon = Beacon(node, bus, group="chat-node-web1-8001")
    await beacon.start()          # hello, then a snapshot every heartbeat
    await beacon.typing("general", "ann")
    await beacon.stop()           # bye
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from ...bus import Message, MessageBus
from .presence import PresenceTable
from .settings import ChatSettings

__all__ = ["PRESENCE", "TYPING", "Beacon", "Node", "group_for"]

log = logging.getLogger("eventflux.demos.chat")

PRESENCE: Final = "chat.live.presence"
TYPING: Final = "chat.live.typing"


def group_for(server: Any) -> str:
    """The consumer group of the server process listening at ``server`` (an
    ASGI scope's ``("host", port)``, or None)."""
    host = socket.gethostname()
    port = "0"
    if isinstance(server, list | tuple) and len(server) == 2:
        port = str(server[1])
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", f"{host}-{port}")
    return f"chat-node-{name}"[:200]


class Node(Protocol):
    """What the beacon needs of its server process's node (a ChatNode)."""

    @property
    def id(self) -> str: ...
    @property
    def presence(self) -> PresenceTable: ...
    @property
    def settings(self) -> ChatSettings: ...
    def typing_here(self, room: str, user: str, skip: Any = None) -> None: ...
    def announce(self, rooms: Iterable[str], skip: Any = None) -> None: ...


class Beacon:
    """One server process's side of the bus talk."""

    def __init__(self, node: Node, bus: MessageBus, group: str) -> None:
        self.node = node
        self.bus = bus
        self.group = group
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._flush_due = False
        self._stopped = False
        self.received = 0

    async def start(self) -> None:
        """Join the group, say hello (the others answer with what they hold),
        send this node's snapshot, and keep sending one every heartbeat."""
        self.bus.subscribe(
            "chat.live.>",
            self._on_message,
            group=self.group,
            max_deliver=1,
            dead_letter=False,
            concurrency=1,
        )
        await self.bus.ready()
        await self._publish(PRESENCE, {"kind": "hello"})
        await self.snapshot()
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._beat(), name=f"eventflux-chat-heartbeat-{self.node.id}"
        )

    async def stop(self) -> None:
        """Say bye (the others drop this node's members at once) and leave the group."""
        self._stopped = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._publish(PRESENCE, {"kind": "bye"})
        with contextlib.suppress(Exception):
            await self.bus.unsubscribe(self._on_message)

    # -- sending ---------------------------------------------------------------------------
    async def _publish(self, subject: str, data: dict[str, Any]) -> None:
        data = {"node": self.node.id, **data}
        await self.bus.publish(subject, data, key=self.node.id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("chat: a bus notice failed: %r", task.exception())

    async def snapshot(self) -> None:
        """Send everything this node holds (a heartbeat)."""
        seq, entries = self.node.presence.snapshot()
        await self._publish(PRESENCE, {"kind": "full", "seq": seq, "entries": entries})

    def changed(self) -> None:
        """This node's presence changed: send a delta soon (changes made in one
        loop turn go together)."""
        if self._flush_due or self._stopped:
            return
        self._flush_due = True
        self._spawn(self._flush())

    async def _flush(self) -> None:
        self._flush_due = False
        delta = self.node.presence.take_delta()
        if delta is not None:
            seq, entries = delta
            await self._publish(PRESENCE, {"kind": "delta", "seq": seq, "entries": entries})

    async def typing(self, room: str, user: str) -> None:
        """Tell the other processes that ``user`` types in ``room``."""
        await self._publish(TYPING, {"room": room, "user": user})

    def spawn_typing(self, room: str, user: str) -> None:
        """:meth:`typing` in the background (the client's next frame need not wait)."""
        if not self._stopped:
            self._spawn(self.typing(room, user))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.node.settings.heartbeat)
            try:
                await self.snapshot()
            except Exception as e:  # the bus is away: try again at the next beat
                log.warning("chat: a heartbeat failed: %s: %s", type(e).__name__, e)

    # -- receiving ---------------------------------------------------------------------------
    async def _on_message(self, msg: Message) -> None:
        data = msg.data
        if not isinstance(data, dict) or data.get("node") == self.node.id:
            return
        age = (datetime.now(UTC) - msg.published_at).total_seconds()
        if age > self.node.settings.presence_timeout:
            return  # left over from before this process started
        self.received += 1
        node = str(data.get("node"))
        if msg.subject == TYPING:
            self.node.presence.apply(node, "alive", 0, ())
            self.node.typing_here(str(data.get("room")), str(data.get("user")))
            return
        kind = str(data.get("kind"))
        seq = data.get("seq")
        rooms = self.node.presence.apply(
            node, kind, seq if isinstance(seq, int) else 0, data.get("entries") or ()
        )
        if rooms:
            self.node.announce(rooms)
        if kind == "hello" and not self._stopped:
            self._spawn(self.snapshot())
