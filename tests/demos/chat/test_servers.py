"""The chat over real ``eventflux serve eventflux.demos.chat:app`` processes
sharing one SQLite store and bus, with real WebSocket clients: delivery
across processes, a conversation of 1,000 messages through a move to the
other process and a killed one (nothing lost, nothing twice), acknowledged
sends whose resends never post twice, presence after a SIGKILL, and the
abuse limits."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from tests.demos.chat._serve import ChatProcess, eventually
from websockets.asyncio.client import connect

from eventflux import open_store
from eventflux.demos.chat import ChatClient, ChatError

FAST = {"EVENTFLUX_CHAT_RATE": "100000", "EVENTFLUX_CHAT_BURST": "100000"}


@contextlib.contextmanager
def servers(folder: Path, count: int = 2, **env: str) -> Iterator[list[ChatProcess]]:
    """``count`` chat server processes on one SQLite store and bus in ``folder``."""
    procs = [ChatProcess(folder, env={**FAST, **env}) for _ in range(count)]
    try:
        procs[0].start()  # the first one makes the files
        for p in procs[1:]:
            p.start(wait=False)
        for p in procs[1:]:
            p.wait_ready()
        yield procs
    finally:
        for p in procs:
            p.__exit__(None, None, None)


async def frame_of(ws: object, kind: str) -> dict[str, object]:
    """The next frame of ``kind`` on a raw WebSocket."""
    while True:
        frame = orjson.loads(await ws.recv())  # type: ignore[attr-defined]
        if frame["type"] in (kind, "error"):
            assert frame["type"] == kind, frame
            return dict(frame)


async def hello(url: str, user: str) -> object:
    ws = await connect(url)
    await ws.send(orjson.dumps({"op": "hello", "user": user}).decode())
    await frame_of(ws, "welcome")
    return ws


async def posted(folder: Path, room: str) -> list[str]:
    async with await open_store(f"sqlite:///{folder}/eventflux.db") as store:
        return [
            e.data["text"]
            async for e in store.read(f"chat-room-{room}")
            if e.type == "MessagePosted"
        ]


@pytest.mark.asyncio
async def test_a_message_through_one_process_reaches_members_on_the_other(
    tmp_path: Path,
) -> None:
    with servers(tmp_path) as (a, b):
        async with ChatClient(a.ws, "ann") as ann, ChatClient(b.ws, "bob") as bob:
            assert ann.welcome["node"] != bob.welcome["node"]
            await ann.create("general")
            await ann.join("general")
            await bob.join("general")  # the join made on b is checked against a's create
            await ann.send("general", "hello from a")
            await bob.wait_until(lambda: bob.messages("general") == ["hello from a"])
            await bob.send("general", "hello from b")
            await ann.wait_until(lambda: ann.messages("general")[-1:] == ["hello from b"])
            # presence and typing cross over the bus
            view = ann.rooms["general"]
            await ann.wait_until(lambda: view.presence == {"ann": "online", "bob": "online"})
            await bob.wait_until(
                lambda: bob.rooms["general"].presence == {"ann": "online", "bob": "online"}
            )
            await bob.typing("general")
            await ann.wait_until(lambda: view.typing == ["bob"])
            # a direct message: the notice reaches bob on the other process
            room = await ann.dm("bob")
            await ann.join(room)
            await ann.send(room, "just you")
            await bob.wait_until(lambda: bob.notices)
            assert bob.notices[0]["from"] == "ann"
            await bob.join(room)
            assert bob.messages(room) == ["just you"]
            await eventually(lambda: a.stats()["peers"] == [b.stats()["node"]], "a sees b")
            assert b.stats()["peers"] == [a.stats()["node"]]
            assert ann.duplicates == ann.gaps == bob.duplicates == bob.gaps == 0


@pytest.mark.asyncio
async def test_a_thousand_messages_through_a_move_and_a_killed_process(tmp_path: Path) -> None:
    """Readers move to the other process mid-conversation (one by choice, one
    because its process is killed); two writers, one of them on the killed
    process: every reader ends with the 1,000 messages, each once, in order."""
    with servers(tmp_path) as (a, b):
        ann = ChatClient([b.ws, a.ws], "ann")  # writes through b
        dan = ChatClient([a.ws, b.ws], "dan", ack_timeout=5.0)  # writes through a (killed)
        bob = ChatClient([a.ws, b.ws], "bob")  # reads on a, moves to b by choice
        cat = ChatClient([a.ws, b.ws], "cat")  # reads on a, moved by the kill
        for c in (ann, dan, bob, cat):
            await c.connect()
        try:
            await ann.create("general")
            for c in (ann, dan, bob, cat):
                await c.join("general")
            ann_acks: list[int] = []
            dan_acks: list[int] = []

            async def write(client: ChatClient, count: int, acks: list[int]) -> None:
                for i in range(count):
                    ack = await client.send("general", f"{client.user} {i}")
                    acks.append(ack.version)

            writers = asyncio.gather(write(ann, 700, ann_acks), write(dan, 300, dan_acks))
            await bob.wait_until(lambda: len(bob.messages("general")) >= 300, within=120)
            await bob.reconnect()  # to b, with the last version it saw
            assert bob.url == b.ws
            await eventually(lambda: len(dan_acks) >= 150, "dan half way", within=120)
            a.stop(signal.SIGKILL)
            await asyncio.wait_for(writers, 180)

            expected = {f"ann {i}" for i in range(700)} | {f"dan {i}" for i in range(300)}
            for reader in (bob, cat):
                await reader.wait_until(
                    lambda r=reader: len(r.messages("general")) == 1000,  # type: ignore[misc]
                    within=120,
                )
                texts = reader.messages("general")
                assert set(texts) == expected
                assert reader.duplicates == reader.gaps == 0
                versions = sorted(reader.rooms["general"].events)
                assert versions == list(range(1, versions[-1] + 1))
                for writer, count in (("ann", 700), ("dan", 300)):
                    theirs = [t for t in texts if t.startswith(writer + " ")]
                    assert theirs == [f"{writer} {i}" for i in range(count)]
            assert cat.url == b.ws
            assert cat.reconnects >= 1
            assert dan.url == b.ws
            stored = await posted(tmp_path, "general")
            assert sorted(stored) == sorted(expected)  # the resends after the kill: once
            assert ann_acks == sorted(ann_acks)
            assert len(set(ann_acks + dan_acks)) == 1000
        finally:
            for c in (ann, dan, bob, cat):
                await c.close()


@pytest.mark.asyncio
async def test_a_resend_through_either_process_posts_once(tmp_path: Path) -> None:
    with servers(tmp_path) as (a, b):
        async with ChatClient(a.ws, "ann") as ann:
            await ann.create("general")
            await ann.join("general")
            first = await ann.send("general", "once", cid="c-1")
            await ann.reconnect(b.ws)
            assert await ann.send("general", "once", cid="c-1") == first

            # a send whose acknowledgement never arrives: the socket dies at once
            lost = await hello(a.ws, "ann")
            await lost.send(  # type: ignore[attr-defined]
                orjson.dumps({"op": "join", "room": "general", "after": 0}).decode()
            )
            await frame_of(lost, "joined")
            frame = {"op": "send", "room": "general", "text": "lost ack", "cid": "c-2"}
            await lost.send(orjson.dumps(frame).decode())  # type: ignore[attr-defined]
            await lost.close()  # type: ignore[attr-defined]
            again = await ann.send("general", "lost ack", cid="c-2")  # through b

            # the same send through both processes at the same moment
            wa, wb = await hello(a.ws, "ann"), await hello(b.ws, "ann")
            for ws in (wa, wb):
                await ws.send(orjson.dumps({"op": "join", "room": "general"}).decode())  # type: ignore[attr-defined]
                await frame_of(ws, "joined")
            frame = {"op": "send", "room": "general", "text": "twice at once", "cid": "c-3"}
            await asyncio.gather(*(ws.send(orjson.dumps(frame).decode()) for ws in (wa, wb)))  # type: ignore[attr-defined]
            acks = await asyncio.gather(frame_of(wa, "ack"), frame_of(wb, "ack"))
            assert acks[0] == acks[1]
            for ws in (wa, wb):
                await ws.close()  # type: ignore[attr-defined]

            stored = await posted(tmp_path, "general")
            assert stored == ["once", "lost ack", "twice at once"]
            assert again.version == first.version + 1


@pytest.mark.asyncio
async def test_members_of_a_killed_process_go_offline_within_the_timeout(
    tmp_path: Path,
) -> None:
    timeout = 2.0
    with servers(tmp_path, EVENTFLUX_CHAT_PRESENCE=str(timeout)) as (a, b):
        async with ChatClient(a.ws, "ann") as ann:
            bob = ChatClient(b.ws, "bob", resume=False)
            await bob.connect()
            await ann.create("general")
            await ann.join("general")
            await bob.join("general")
            view = ann.rooms["general"]
            await ann.wait_until(lambda: view.presence == {"ann": "online", "bob": "online"})
            await eventually(lambda: a.stats()["peers"] != [], "a hears b")

            b.stop(signal.SIGKILL)  # no bye: only silence tells
            killed = time.monotonic()
            await ann.wait_until(lambda: "bob" not in view.presence, within=30)
            took = time.monotonic() - killed
            assert took <= timeout + 2.0, took  # the timeout, a sweep, and a margin
            assert ("general", "bob", "offline") in ann.presence_log
            assert a.stats()["peers"] == []
            rooms = await ann.rooms_list()
            assert rooms["rooms"][0]["online"] == 1
            await bob.close()

            # bob comes back through a: present again, history intact
            async with ChatClient(a.ws, "bob") as again:
                await again.join("general")
                await ann.wait_until(lambda: view.presence.get("bob") == "online")
                assert [e["type"] for e in again.timeline("general")][:3] == [
                    "RoomCreated",
                    "MemberJoined",
                    "MemberJoined",
                ]


@pytest.mark.asyncio
async def test_the_limits_hold_on_a_served_process(tmp_path: Path) -> None:
    env = {
        "EVENTFLUX_CHAT_RATE": "2",
        "EVENTFLUX_CHAT_BURST": "3",
        "EVENTFLUX_CHAT_MAX_TEXT": "100",
    }
    with servers(tmp_path, count=1, **env) as (a,):
        async with ChatClient(a.ws, "ann") as ann:
            await ann.create("general")  # a token
            await ann.join("general")  # a token
            await ann.send("general", "ok")  # the last token
            with pytest.raises(ChatError) as limited:
                await ann.send("general", "too soon", retries=0)
            assert limited.value.kind == "RateLimited"
            assert 0 < float(str(limited.value.extra["retry_after"])) <= 0.5
        async with ChatClient(a.ws, "eve") as eve:  # a connection of its own: its own bucket
            with pytest.raises(ChatError) as bad_room:
                await eve.create("<b>room</b>")
            assert bad_room.value.kind == "InvalidRoomName"
            await eve.join("general")
            with pytest.raises(ChatError) as long:
                await eve.send("general", "x" * 101, retries=0)
            assert long.value.kind == "TooLong"
        html = "<script>alert(1)</script> & <img src=x onerror=alert(2)>"
        async with ChatClient(a.ws, "hal") as hal, ChatClient(a.ws, "ann") as ann:
            await hal.join("general")
            await ann.join("general")
            await hal.send("general", html)
            await ann.wait_until(lambda: ann.messages("general")[-1:] == [html])  # text, unchanged
        with pytest.raises(ChatError) as bad_user:
            async with ChatClient(a.ws, "<script>"):
                pass
        assert bad_user.value.kind == "InvalidUserName"

        # the dashboard shows the stored message escaped
        async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
            page = await http.get("/stream", params={"name": "chat-room-general"})
        assert page.status_code == 200
        assert "<script>alert(1)" not in page.text
        assert "&lt;script&gt;alert(1)" in page.text

        # a flood closes the connection
        async with connect(a.ws) as ws:
            await ws.send(orjson.dumps({"op": "hello", "user": "flood"}).decode())
            for _ in range(40):
                await ws.send(orjson.dumps({"op": "rooms"}).decode())
            await ws.wait_closed()
            assert ws.close_code == 1008


@pytest.mark.asyncio
async def test_a_reader_that_stops_reading_is_dropped_by_a_served_process(
    tmp_path: Path,
) -> None:
    # a long presence timeout: the silent reader is dropped for its queue, not its silence
    env = {"EVENTFLUX_CHAT_QUEUE": "32", "EVENTFLUX_CHAT_PRESENCE": "600"}
    with servers(tmp_path, count=1, **env) as (a,):
        async with ChatClient(a.ws, "ann") as ann, ChatClient(a.ws, "cat") as cat:
            await ann.create("general")
            await ann.join("general")
            await cat.join("general")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the window opens
            sock.connect(("127.0.0.1", a.port))
            async with (
                connect(a.ws, sock=sock, max_queue=1) as slow,
                httpx.AsyncClient(base_url=a.url, timeout=10) as http,
            ):
                await slow.send(orjson.dumps({"op": "hello", "user": "slow"}).decode())
                await slow.send(orjson.dumps({"op": "join", "room": "general"}).decode())
                await eventually(lambda: a.stats()["rooms"] == {"general": 3}, "slow follows")
                sent = 0
                stats = a.stats()
                while stats["dropped"] == 0:  # text that compression cannot shrink
                    last = await ann.send("general", secrets.token_urlsafe(2900))
                    sent += 1
                    assert sent < 5000, f"never dropped: {stats}"
                    if sent % 20 == 0:
                        stats = (await http.get("/demos/chat/stats")).json()
                assert stats["timed_out"] == 0
                assert "slow" not in stats["users"]  # gone, its queue with it
            # cat, who reads, lost nothing
            await cat.wait_until(lambda: cat.rooms["general"].last == last.version)
            assert len(cat.messages("general")) == sent
            assert cat.duplicates == cat.gaps == 0
