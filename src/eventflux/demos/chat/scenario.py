"""``eventflux demo chat``: a scripted conversation between simulated users
over two ``eventflux serve`` processes that share one SQLite store and bus.

Users connect to server *a* or *b*; what one says through one server reaches
the others on both; presence changes (joins, leaves, away) cross between the
processes over the bus; a user who drops reconnects to the other server and
gets exactly the messages it missed; server *b* is killed with a user on it,
and the others see that user go offline within the presence timeout. At the
end the room's transcript is read back from the store.

Example::

    lines = await run(Path(".eventflux-demo"))
    print("\\n".join(lines))
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

from ...exceptions import EventfluxError
from ...store import open_store
from .client import ChatClient
from .names import stream_of
from .records import CREATED, DELETED, EDITED, JOINED, LEFT, POSTED

__all__ = ["PRESENCE_TIMEOUT", "TITLE", "run"]

TITLE = "Chat: rooms, presence and history over two server processes"

#: seconds of silence after which a killed server's users go offline (short here)
PRESENCE_TIMEOUT: Final = 2.0
_LISTENING: Final = re.compile(r"eventflux: dashboard at (http://\S+?)/?$", re.MULTILINE)


class Server:
    """One ``eventflux serve eventflux.demos.chat:app`` process of the demo."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.log = folder / f"server-{name}.log"
        self.url = ""
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://") + "/demos/chat/ws"

    async def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "EVENTFLUX_CHAT_PRESENCE": str(PRESENCE_TIMEOUT),
            "EVENTFLUX_READ_MODEL": f"sqlite:///{self.folder / 'chat-read.db'}",
        }
        args = [sys.executable, "-m", "eventflux.cli", "serve", "--host", "127.0.0.1"]
        args += ["--port", "0", "--log-level", "warning", "eventflux.demos.chat:app"]
        args += ["--store", f"sqlite:///{self.folder / 'chat-events.db'}"]
        args += ["--bus", f"sqlite:///{self.folder / 'chat-bus.db'}"]
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *args, cwd=self.folder, stdout=out, stderr=asyncio.subprocess.STDOUT, env=env
            )
        await self._ready()

    async def _ready(self, deadline: float = 60.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise EventfluxError(f"chat server {self.name} exited:\n{self.output()}")
            found = _LISTENING.search(self.output())
            if found:
                self.url = found.group(1)
                if await asyncio.to_thread(_answers, self.url + "/demos/chat/stats"):
                    return
            await asyncio.sleep(0.05)
        raise EventfluxError(f"chat server {self.name} did not start:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` and wait until the process is gone."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@contextlib.asynccontextmanager
async def _servers(folder: Path) -> AsyncIterator[tuple[Server, Server]]:
    a, b = Server("a", folder), Server("b", folder)
    try:
        await a.start()  # the first one makes the files
        await b.start()
        yield a, b
    finally:
        for server in (a, b):
            with contextlib.suppress(Exception):
                await server.kill(signal.SIGTERM)


def _remove(folder: Path) -> None:
    for name in ("chat-events.db", "chat-bus.db", "chat-read.db"):
        for suffix in ("", "-wal", "-shm"):
            (folder / f"{name}{suffix}").unlink(missing_ok=True)


class _Observer:
    """What one user's client sees in a room, as lines (presence and typing)."""

    def __init__(self, lines: list[str], room: str) -> None:
        self.lines = lines
        self.room = room

    def __call__(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if frame.get("room") != self.room:
            return
        if kind == "presence_diff":
            for user, state in sorted(frame["joins"].items()):
                self.lines.append(f"  presence #{self.room}: {user} {state}")
            for user in frame["leaves"]:
                self.lines.append(f"  presence #{self.room}: {user} offline")
        elif kind == "typing":
            self.lines.append(f"  {frame['user']} is typing…")


async def _until(what: str, check: Callable[[], bool], within: float = 30.0) -> None:
    try:
        async with asyncio.timeout(within):
            while not check():  # noqa: ASYNC110 - frames arrive on other tasks
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise EventfluxError(f"the chat demo waited {within:g} s for {what}") from None


def _line(e: Any) -> str | None:
    data = e.data if isinstance(e.data, dict) else {}
    user = data.get("user", "?")
    if e.type == CREATED:
        return f"  v{e.version:<3} {user} created #{data.get('room')}"
    if e.type == JOINED:
        return f"  v{e.version:<3} {user} joined"
    if e.type == LEFT:
        return f"  v{e.version:<3} {user} left"
    if e.type == POSTED:
        return f"  v{e.version:<3} {user}: {data.get('text')}"
    if e.type == EDITED:
        return f"  v{e.version:<3} {user} edited v{data.get('target')}: {data.get('text')}"
    if e.type == DELETED:
        return f"  v{e.version:<3} {user} deleted v{data.get('target')}"
    return None


async def run(workdir: Path) -> list[str]:
    """Run the scripted conversation with its files in ``workdir/chat``; return
    what happened, line by line."""
    folder = workdir / "chat"
    folder.mkdir(parents=True, exist_ok=True)
    _remove(folder)
    lines: list[str] = []
    say = lines.append
    room = "general"
    async with _servers(folder) as (a, b):
        say(f"two server processes on one SQLite store and bus in {folder}: a and b")
        ann = ChatClient(a.ws, "ann", on_frame=_Observer(lines, room))
        bob = ChatClient(b.ws, "bob")
        cat = ChatClient(a.ws, "cat")
        dan = ChatClient([b.ws, a.ws], "dan")
        eve = ChatClient(b.ws, "eve", resume=False)
        clients = (ann, bob, cat, dan, eve)
        try:
            await ann.connect()
            await ann.create(room)
            await ann.join(room)
            say(f"ann (server a) created #{room}")
            view = ann.rooms[room]
            for client, where in ((bob, "b"), (cat, "a"), (dan, "b")):
                say(f"{client.user} joins #{room} through server {where}")
                await client.connect()
                await client.join(room)
                user = client.user
                await _until(f"{user} present", lambda: user in view.presence)  # noqa: B023

            say("the conversation:")
            await ann.send(room, "hi all, this goes through server a")
            await bob.wait_until(lambda: len(bob.messages(room)) == 1)
            await bob.typing(room)
            await _until("bob typing", lambda: "bob" in ann.rooms[room].typing)
            sent = await bob.send(room, "hello from server b: I saw it at once")
            await ann.wait_until(lambda: len(ann.messages(room)) == 2)
            oops = await cat.send(room, "<b>bold?</b> no: HTML stays text")
            await cat.edit(room, oops.version, "<b>bold?</b> no: HTML stays text (edited)")
            extra = await cat.send(room, "a message I take back")
            await cat.delete(room, extra.version)
            await ann.wait_until(lambda: ann.rooms[room].last >= extra.version + 1)
            say(f"  bob's message was acknowledged as v{sent.version} at position {sent.position}")

            # a private word, across the servers
            dm = await ann.dm("bob")
            await ann.join(dm)
            await ann.send(dm, "bob, a word in private")
            await bob.wait_until(lambda: bool(bob.notices))
            await bob.join(dm)
            say(f"ann -> bob ({dm}): {bob.messages(dm)[0]!r}, seen on server b")

            # away and back
            await cat.status("away")
            await _until("cat away", lambda: ann.rooms[room].presence.get("cat") == "away")
            await cat.status("online")
            await _until("cat back", lambda: ann.rooms[room].presence.get("cat") == "online")

            # dan drops; the room goes on; dan comes back through the other server
            await dan.drop()
            await _until("dan gone", lambda: "dan" not in ann.rooms[room].presence)
            missed = [await ann.send(room, f"while dan is away, {i}") for i in range(1, 4)]
            last_seen = dan.rooms[room].last
            await dan.connect()  # the next address: server a
            await dan.wait_until(lambda: dan.rooms[room].last == missed[-1].version)
            got = [e for e in dan.timeline(room) if e["version"] > last_seen]
            say(
                f"dan reconnected to server a after v{last_seen}: got "
                f"{len([e for e in got if e['type'] == POSTED])} missed messages "
                f"(v{got[0]['version']}..v{got[-1]['version']}), "
                f"{dan.duplicates} duplicates, {dan.gaps} gaps"
            )

            # bob closes the page for good
            await bob.leave(room)
            await bob.close()
            await _until("bob left", lambda: "bob" not in ann.rooms[room].presence)

            # eve is on server b when it dies without a word
            await eve.connect()
            await eve.join(room)
            await _until("eve present", lambda: "eve" in ann.rooms[room].presence)
            await b.kill()
            killed = time.monotonic()
            say("server b killed (SIGKILL) with eve connected to it")
            await _until("eve offline", lambda: "eve" not in ann.rooms[room].presence, within=60)
            took = time.monotonic() - killed
            say(
                f"eve went offline on server a {took:.1f} s later "
                f"(presence timeout {PRESENCE_TIMEOUT:g} s)"
            )

            listing = await ann.rooms_list()
            for row in listing["rooms"]:
                say(
                    f"#{row['room']}: {row['members']} members, {row['online']} here now, "
                    f"{row['messages']} messages"
                )
        finally:
            for client in clients:
                await client.close()

    say(f"the transcript of #{room}, read back from the store:")
    async with await open_store(f"sqlite:///{folder / 'chat-events.db'}") as store:
        async for e in store.read(stream_of(room)):
            line = _line(e)
            if line is not None:
                say(line)
    return lines


def _answers(url: str) -> bool:
    """Whether ``url`` answers 200 (blocking; the standard library only, so the
    demo runs without the dev extra)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
