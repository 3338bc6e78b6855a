"""The chat's operations over real WebSockets, on a server in the test's
process: rooms, membership, history and its pages, resuming from a version,
edits and deletes, direct messages, typing, presence, and the abuse limits."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
from pathlib import Path

import orjson
import pytest
from tests.demos.chat._serve import chat_server, eventually, ws_url
from websockets.asyncio.client import connect

from eventflux.demos.chat import ChatClient, ChatError, service_of

FAST = {"rate": 1000.0, "burst": 1000, "presence_timeout": 30.0}


@pytest.mark.asyncio
async def test_rooms_messages_history_edits_and_deletes(tmp_path: Path) -> None:
    async with chat_server(tmp_path, history=5, **FAST) as (live, _app):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann, ChatClient(url, "bob") as bob:
            await ann.create("general")
            with pytest.raises(ChatError) as exists:
                await bob.create("general")
            assert exists.value.kind == "RoomExists"
            with pytest.raises(ChatError) as missing:
                await bob.join("nowhere")
            assert missing.value.kind == "NoSuchRoom"
            await ann.join("general")
            await bob.join("general")
            acks = [await ann.send("general", f"m{i}") for i in range(8)]
            assert [a.version for a in acks] == list(range(4, 12))  # created, 2 joins first
            assert all(b.position > a.position for a, b in itertools.pairwise(acks))
            await bob.wait_until(lambda: bob.messages("general")[-1:] == ["m7"])
            assert bob.duplicates == bob.gaps == 0

            # a late joiner gets the last 5 events, then pages back
            async with ChatClient(url, "cat") as cat:
                joined = await cat.join("general")
                assert [e["version"] for e in joined["events"]] == list(range(8, 13))
                assert joined["more"] is True
                page = await cat.older("general", limit=4)
                assert [e["version"] for e in page["events"]] == [4, 5, 6, 7]
                await cat.older("general")
                assert sorted(cat.rooms["general"].events) == list(range(1, 13))
                assert cat.rooms["general"].more is False

            # edits and deletes are events; only the author changes a message
            edit = await ann.edit("general", acks[0].version, "m0, edited")
            with pytest.raises(ChatError) as not_yours:
                await bob.delete("general", acks[0].version)
            assert not_yours.value.kind == "Forbidden"
            gone = await ann.delete("general", acks[1].version, cid="del-1")
            again = await ann.delete("general", acks[1].version, cid="del-1")  # a resend
            assert again == gone
            with pytest.raises(ChatError) as deleted:
                await ann.edit("general", acks[1].version, "too late")
            assert deleted.value.kind == "MessageDeleted"
            with pytest.raises(ChatError) as no_message:
                await ann.edit("general", 1, "not a message")
            assert no_message.value.kind == "NoSuchMessage"
            await bob.wait_until(lambda: bob.rooms["general"].last == gone.version)
            kinds = [(e["type"], e.get("target")) for e in bob.timeline("general")[-2:]]
            assert kinds == [
                ("MessageEdited", acks[0].version),
                ("MessageDeleted", acks[1].version),
            ]
            assert edit.version + 1 == gone.version

            rooms = await bob.rooms_list()
            row = next(r for r in rooms["rooms"] if r["room"] == "general")
            assert row["members"] == 3
            assert row["online"] == 2
            await bob.leave("general")
            await eventually(
                lambda: ann.timeline("general")[-1]["type"] == "MemberLeft", "bob's leaving"
            )
            store = live.store
            stored = [e.type async for e in store.read("chat-room-general")]
            assert stored.count("MessagePosted") == 8
            assert "MemberLeft" in stored


@pytest.mark.asyncio
async def test_a_resend_with_the_same_client_id_posts_once(tmp_path: Path) -> None:
    async with chat_server(tmp_path, **FAST) as (live, _):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann:
            await ann.create("general")
            await ann.join("general")
            first = await ann.send("general", "once", cid="c-1")
            await ann.reconnect()  # as if the acknowledgement was lost on the way
            second = await ann.send("general", "once", cid="c-1")
            assert second == first
            texts = [e.data.get("text") async for e in live.store.read("chat-room-general")]
            assert texts.count("once") == 1


@pytest.mark.asyncio
async def test_resuming_from_a_version_sends_exactly_what_was_missed(tmp_path: Path) -> None:
    async with chat_server(tmp_path, **FAST) as (live, _):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann, ChatClient(url, "bob") as bob:
            await ann.create("general")
            await ann.join("general")
            await bob.join("general")
            for i in range(5):
                await ann.send("general", f"before {i}")
            await bob.wait_until(lambda: len(bob.messages("general")) == 5)
            await bob.drop()
            for i in range(300):  # more than a store page
                await ann.send("general", f"away {i}")
            await bob.connect()  # joins again after its last version
            await bob.wait_until(lambda: len(bob.messages("general")) == 305)
            await ann.send("general", "live again")
            await bob.wait_until(lambda: bob.messages("general")[-1] == "live again")
            assert bob.duplicates == bob.gaps == 0
            versions = sorted(bob.rooms["general"].events)
            assert versions == list(range(1, versions[-1] + 1))


@pytest.mark.asyncio
async def test_direct_messages_typing_and_html_kept_as_text(tmp_path: Path) -> None:
    async with chat_server(tmp_path, **FAST) as (live, _):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann, ChatClient(url, "bob") as bob:
            room = await ann.dm("bob")
            assert room == "dm:ann:bob" == await bob.dm("ann")
            await ann.join(room)
            await ann.send(room, "<script>alert(1)</script> & <b>hi</b>")
            await bob.wait_until(lambda: bob.notices)
            assert bob.notices[0] == {"type": "dm_notice", "room": room, "from": "ann"}
            await bob.join(room)
            assert bob.messages(room) == ["<script>alert(1)</script> & <b>hi</b>"]
            async with ChatClient(url, "eve") as eve:
                with pytest.raises(ChatError) as forbidden:
                    await eve.join(room)
                assert forbidden.value.kind == "Forbidden"
            rooms = await bob.rooms_list()
            assert rooms["dms"][0]["with"] == "ann"
            await ann.typing(room)
            await bob.wait_until(lambda: bob.rooms[room].typing == ["ann"])
            await ann.typing(room)  # within the typing interval: not repeated
            await ann.send(room, "after typing")
            await bob.wait_until(lambda: bob.messages(room)[-1] == "after typing")
            assert bob.rooms[room].typing == ["ann"]
            assert not [e async for e in live.store.read_all() if "yping" in e.type]


@pytest.mark.asyncio
async def test_presence_is_one_member_for_several_tabs_and_away_when_all_are(
    tmp_path: Path,
) -> None:
    async with chat_server(tmp_path, **FAST) as (live, _):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann:
            await ann.create("general")
            await ann.join("general")
            tab1 = ChatClient(url, "bob")
            tab2 = ChatClient(url, "bob")
            await tab1.connect()
            await tab2.connect()
            await tab1.join("general")
            await tab2.join("general")
            view = ann.rooms["general"]
            await ann.wait_until(lambda: view.presence == {"ann": "online", "bob": "online"})
            assert tab2.rooms["general"].presence == {"ann": "online", "bob": "online"}
            await tab1.status("away")
            await tab2.status("away")
            await ann.wait_until(lambda: view.presence.get("bob") == "away")
            await tab1.status("online")
            await ann.wait_until(lambda: view.presence.get("bob") == "online")
            await tab1.close()  # one tab closes: bob is still here
            await tab2.status("away")
            await ann.wait_until(lambda: view.presence.get("bob") == "away")
            await tab2.close()
            await ann.wait_until(lambda: "bob" not in view.presence)
            log = [(u, s) for r, u, s in ann.presence_log if u == "bob"]
            assert log == [
                ("bob", "online"), ("bob", "away"), ("bob", "online"), ("bob", "away"),
                ("bob", "offline"),
            ]  # fmt: skip


@pytest.mark.asyncio
async def test_a_tab_that_goes_silent_goes_offline_within_the_timeout(tmp_path: Path) -> None:
    async with chat_server(tmp_path, **{**FAST, "presence_timeout": 1.0}) as (live, app):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann:
            await ann.create("general")
            await ann.join("general")
            # a frozen tab: the socket stays open, nothing is sent
            silent = ChatClient(url, "bob", ping=False, resume=False)
            await silent.connect()
            await silent.join("general")
            view = ann.rooms["general"]
            await ann.wait_until(lambda: "bob" in view.presence)
            started = asyncio.get_running_loop().time()
            await ann.wait_until(lambda: "bob" not in view.presence, within=10)
            took = asyncio.get_running_loop().time() - started
            assert took < 1.0 + 1.5  # the timeout and one sweep, with room to spare
            await eventually(lambda: silent.closed_with is not None, "the silent tab closed")
            assert silent.closed_with is not None
            assert silent.closed_with[0] == 4001
            node = service_of(app).node
            assert node is not None
            assert node.stats["timed_out"] == 1
            await silent.close()


@pytest.mark.asyncio
async def test_the_rate_limit_is_a_token_bucket_per_connection(tmp_path: Path) -> None:
    async with chat_server(tmp_path, rate=2.0, burst=3, presence_timeout=30.0) as (live, _):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann:
            await ann.create("general")
            await ann.join("general")  # two tokens taken: one left
            await ann.send("general", "ok")
            with pytest.raises(ChatError) as limited:
                await ann.send("general", "too soon", retries=0)
            assert limited.value.kind == "RateLimited"
            assert 0 < float(str(limited.value.extra["retry_after"])) <= 0.5
            later = await ann.send("general", "a retry waits its turn")  # the client waits
            assert later.version == 4
            async with ChatClient(url, "bob") as bob:  # another connection has its own bucket
                await bob.join("general")
                await bob.send("general", "bob's turn")

        # a client that floods regardless is closed
        async with connect(url) as ws:
            await ws.send(orjson.dumps({"op": "hello", "user": "flood"}).decode())
            for _ in range(40):
                await ws.send(orjson.dumps({"op": "rooms"}).decode())
            await ws.wait_closed()
            assert ws.close_code == 1008


@pytest.mark.asyncio
async def test_names_texts_and_frames_are_checked(tmp_path: Path) -> None:
    async with chat_server(tmp_path, max_text=100, **FAST) as (live, _):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann:
            await ann.create("general")
            await ann.join("general")
            with pytest.raises(ChatError) as long:
                await ann.send("general", "x" * 101)
            assert long.value.kind == "TooLong"
            for blank in ("   ", "bell \x07"):
                with pytest.raises(ChatError) as bad_text:
                    await ann.send("general", blank)
                assert bad_text.value.kind == "InvalidText"
            for bad in ("General", "a b", "x" * 33, "<b>", "", "dm:ann:bob"):
                with pytest.raises(ChatError) as invalid:
                    await ann.create(bad)
                assert invalid.value.kind == "InvalidRoomName", bad
            with pytest.raises(ChatError) as not_joined:
                await ann.send("elsewhere", "hi")
            assert not_joined.value.kind == "NotInRoom"
            with pytest.raises(ChatError) as unknown:
                await ann.request({"op": "explode"}, lambda f: False)
            assert unknown.value.kind == "UnknownOp"

        # bad names are refused at hello; a frame over the limit closes the socket
        for name in ("Ann", "<script>", "a" * 33):
            with pytest.raises(ChatError) as refused:
                async with ChatClient(url, name):
                    pass
            assert refused.value.kind == "InvalidUserName"
        async with connect(url) as ws:
            await ws.send(orjson.dumps({"op": "hello", "user": "zed"}).decode())
            assert orjson.loads(await ws.recv())["type"] == "welcome"
            await ws.send("not json")
            assert orjson.loads(await ws.recv())["error"]["type"] == "BadRequest"
            await ws.send("x" * 40_000)
            await ws.wait_closed()
            assert ws.close_code == 1009


@pytest.mark.asyncio
async def test_a_client_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    settings = {**FAST, "queue": 32, "max_text": 4000}
    async with chat_server(tmp_path, **settings) as (live, app):
        url = ws_url(live.url)
        async with ChatClient(url, "ann") as ann:
            await ann.create("general")
            await ann.join("general")
            # a reader with a tiny socket buffer that never reads
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the window opens
            sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
            async with connect(url, sock=sock, max_queue=1) as ws:
                await ws.send(orjson.dumps({"op": "hello", "user": "slow"}).decode())
                await ws.send(orjson.dumps({"op": "join", "room": "general"}).decode())
                node = service_of(app).node
                assert node is not None
                await eventually(lambda: "slow" in node.by_user, "the slow reader")
                sent = 0
                while node.stats["dropped"] == 0:  # text that compression cannot shrink
                    await ann.send("general", secrets.token_urlsafe(2900))
                    sent += 1
                    assert sent < 3000, "never dropped"
                slow = [c for c in node.connections.values() if c.user == "slow"]
                assert slow == []  # gone, its queue with it
                assert ws.protocol.state.name in ("CLOSING", "CLOSED", "OPEN")
            # ann, who reads, lost nothing
            await ann.wait_until(lambda: len(ann.messages("general")) == sent)
            assert ann.duplicates == ann.gaps == 0
