"""``WS /api/ws``: store and bus subscriptions over one socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.server.conftest import LiveServer, running
from tests.server.test_api_bus import eventually
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from eventflux import NewEvent


def ws_url(live: LiveServer) -> str:
    return live.url.replace("http://", "ws://") + "/api/ws"


async def recv(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if kind is None or frame["type"] == kind:
            return frame


async def send(ws: ClientConnection, **frame: Any) -> None:
    await ws.send(json.dumps(frame))


@pytest.mark.asyncio
async def test_store_subscription_catches_up_and_follows(live: LiveServer) -> None:
    await live.store.append("a-1", [NewEvent("Opened", {})])
    async with connect(ws_url(live)) as ws:
        welcome = await recv(ws)
        assert welcome == {"type": "welcome", "open": True, "scope": "admin", "prefix": ""}
        await send(ws, op="subscribe", sub="s1", source="store", after=0)
        assert await recv(ws) == {"type": "subscribed", "sub": "s1", "source": "store", "after": 0}
        first = await recv(ws)
        assert first["type"] == "event"
        assert first["sub"] == "s1"
        assert (first["event"]["stream"], first["event"]["position"]) == ("a-1", 1)
        await live.store.append("b-1", [NewEvent("Other", {})])
        await live.store.append("a-2", [NewEvent("Opened", {})])
        second = await recv(ws, "event")
        assert second["event"]["position"] == 2
        await send(ws, op="subscribe", sub="s2", source="store", after=2, types=["Opened"])
        seen: set[tuple[str, int]] = set()
        while len(seen) < 2:
            frame = await recv(ws)
            if frame["type"] == "event":
                seen.add((frame["sub"], frame["event"]["position"]))
        assert seen == {("s1", 3), ("s2", 3)}
        await send(ws, op="unsubscribe", sub="s1")
        assert await recv(ws, "unsubscribed") == {"type": "unsubscribed", "sub": "s1"}
        await send(ws, op="ping")
        assert await recv(ws, "pong") == {"type": "pong"}


@pytest.mark.asyncio
async def test_bus_subscription_with_auto_ack(live: LiveServer) -> None:
    async with connect(ws_url(live)) as ws:
        await recv(ws, "welcome")
        await send(ws, op="subscribe", sub="b", source="bus", subject="orders.*", group="ws-a")
        subscribed = await recv(ws, "subscribed")
        assert subscribed["group"] == "ws-a"
        assert subscribed["ack"] == "auto"
        await live.bus.publish("orders.created", {"id": 1}, msg_id="o-1", key="k")
        frame = await recv(ws, "message")
        assert frame["sub"] == "b"
        assert frame["delivery"]
        message = frame["message"]
        assert (message["subject"], message["data"], message["msg_id"]) == (
            "orders.created", {"id": 1}, "o-1",
        )  # fmt: skip
        assert message["attempt"] == 1
        assert message["group"] == "ws-a"


@pytest.mark.asyncio
async def test_bus_subscription_with_client_acks_and_naks(live: LiveServer) -> None:
    async with connect(ws_url(live)) as ws:
        await recv(ws, "welcome")
        await send(
            ws,
            op="subscribe",
            sub="b",
            source="bus",
            subject="jobs.run",
            group="ws-b",
            ack="client",
            max_deliver=2,
        )
        await recv(ws, "subscribed")
        await live.bus.publish("jobs.run", {"id": 1})
        frame = await recv(ws, "message")
        await send(ws, op="nak", sub="b", delivery=frame["delivery"], reason="not now")
        again = await recv(ws, "message")
        assert again["message"]["attempt"] == 2
        await send(ws, op="nak", sub="b", delivery=again["delivery"], reason="still not")

        async def dead() -> bool:
            return len(await live.bus.dlq.list(group="ws-b")) == 1

        await eventually(dead, "the dead letter")
        (letter,) = await live.bus.dlq.list(group="ws-b")
        assert "still not" in letter.error
        await live.bus.publish("jobs.run", {"id": 2})
        frame = await recv(ws, "message")
        await send(ws, op="ack", sub="b", delivery=frame["delivery"])
        await send(ws, op="ack", sub="b", delivery=frame["delivery"])  # twice: no such delivery
        error = await recv(ws, "error")
        assert error["error"]["status"] == 404


@pytest.mark.asyncio
async def test_a_closed_socket_gives_its_messages_back_to_the_group(live: LiveServer) -> None:
    async with connect(ws_url(live)) as ws:
        await recv(ws, "welcome")
        await send(
            ws, op="subscribe", sub="b", source="bus", subject="t.x", group="ws-c", ack="client"
        )
        await recv(ws, "subscribed")
        await live.bus.publish("t.x", {"id": 1})
        await recv(ws, "message")  # never answered
    got: list[Any] = []

    @live.bus.subscribe("t.x", group="ws-c")
    async def take(msg: Any) -> None:
        got.append(msg)

    async def redelivered() -> bool:
        return len(got) == 1

    await eventually(redelivered, "the redelivery")
    assert got[0].attempt == 2


BAD_FRAMES: list[tuple[Any, int]] = [
    ("not json", 400),
    ([1], 400),
    ({"op": "dance"}, 400),
    ({"op": "subscribe", "sub": "", "source": "store"}, 400),
    ({"op": "subscribe", "sub": "x", "source": "disk"}, 400),
    ({"op": "subscribe", "sub": "x", "source": "store", "after": -1}, 400),
    ({"op": "subscribe", "sub": "x", "source": "store", "after": True}, 400),
    ({"op": "subscribe", "sub": "x", "source": "store", "types": "A"}, 400),
    ({"op": "subscribe", "sub": "x", "source": "bus", "subject": "a"}, 400),
    ({"op": "subscribe", "sub": "x", "source": "bus", "subject": "a..b", "group": "g"}, 400),
    ({"op": "subscribe", "sub": "x", "source": "bus", "subject": "a", "group": "g h"}, 400),
    ({"op": "subscribe", "sub": "x", "source": "bus", "subject": "a", "group": "g", "ack": 1}, 400),
    ({"op": "unsubscribe", "sub": "nobody"}, 404),
    ({"op": "ack", "sub": "nobody", "delivery": "d1"}, 404),
    ({"op": "auth", "token": "x"}, 400),
]


@pytest.mark.asyncio
async def test_bad_frames_get_error_frames_and_the_socket_stays(live: LiveServer) -> None:
    async with connect(ws_url(live)) as ws:
        await recv(ws, "welcome")
        for frame, status in BAD_FRAMES:
            await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
            error = await recv(ws)
            assert error["type"] == "error", frame
            assert error["error"]["status"] == status, (frame, error)
        await ws.send(b"\x00binary")
        assert (await recv(ws))["type"] == "error"
        deep: Any = 1
        for _ in range(70):
            deep = [deep]
        await send(ws, op="ping", deep=deep)
        assert (await recv(ws))["error"]["status"] == 400
        await send(ws, op="ping")
        assert (await recv(ws)) == {"type": "pong"}


@pytest.mark.asyncio
async def test_tokens_on_the_websocket(live: LiveServer) -> None:
    admin = await live.token("admin")
    reader = await live.token("read", prefix="orders-")
    with pytest.raises(InvalidStatus) as denied:
        async with connect(ws_url(live), additional_headers={"Authorization": "Bearer bad"}):
            pass
    assert denied.value.response.status_code == 401
    assert denied.value.response.headers["WWW-Authenticate"].startswith("Bearer")
    # no header: the first frame authenticates
    async with connect(ws_url(live)) as ws:
        await send(ws, op="auth", token="wrong")
        assert (await recv(ws))["error"]["status"] == 401
        with pytest.raises(ConnectionClosed):
            await recv(ws)
    async with connect(ws_url(live)) as ws:
        await send(ws, op="auth", token=admin)
        assert (await recv(ws))["scope"] == "admin"
    headers = {"Authorization": f"Bearer {reader}"}
    async with connect(ws_url(live), additional_headers=headers) as ws:
        assert (await recv(ws))["prefix"] == "orders-"
        await send(ws, op="subscribe", sub="b", source="bus", subject="orders-x.a", group="g")
        assert (await recv(ws))["error"]["status"] == 403  # read cannot join a group
        await live.store.append("users-1", [NewEvent("A", {})])
        await live.store.append("orders-1", [NewEvent("A", {})])
        await send(ws, op="subscribe", sub="s", source="store")
        await recv(ws, "subscribed")
        event = await recv(ws, "event")
        assert event["event"]["stream"] == "orders-1"
    writer = await live.token("write", prefix="orders-")
    headers = {"Authorization": f"Bearer {writer}"}
    async with connect(ws_url(live), additional_headers=headers) as ws:
        await recv(ws, "welcome")
        await send(ws, op="subscribe", sub="b", source="bus", subject="users.>", group="g")
        assert (await recv(ws))["error"]["status"] == 403
        await send(ws, op="subscribe", sub="b", source="bus", subject="orders-x.>", group="g")
        assert (await recv(ws))["type"] == "subscribed"


@pytest.mark.asyncio
async def test_live_connections_per_token_are_capped(backends: Any) -> None:
    store, bus = backends
    async with running(store, bus, max_connections_per_token=2) as live:
        url = ws_url(live)
        async with connect(url) as one, connect(url) as two:
            await recv(one, "welcome")
            await recv(two, "welcome")
            with pytest.raises(InvalidStatus) as denied:
                async with connect(url):
                    pass
            assert denied.value.response.status_code == 429
            import httpx

            async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
                r = await client.get("/api/subscribe")
                assert r.status_code == 429
                assert r.json()["error"]["type"] == "TooManyConnections"
        async with connect(url) as three:  # slots come back when sockets close
            assert (await recv(three))["type"] == "welcome"


@pytest.mark.asyncio
async def test_shutdown_says_closing(backends: Any) -> None:
    store, bus = backends
    async with running(store, bus) as live, connect(ws_url(live)) as ws:
        await recv(ws, "welcome")
        await live.app.state.eventflux.begin_shutdown()
        assert (await recv(ws, "closing"))["reason"]


@pytest.mark.asyncio
async def test_a_slow_store_subscription_is_dropped_and_says_where_to_resume(
    backends: Any,
) -> None:
    store, bus = backends
    # no compression: the padding must fill the socket buffers
    async with (
        running(store, bus, live_queue=4) as live,
        connect(ws_url(live), max_queue=1, max_size=None, compression=None) as ws,
    ):
        await recv(ws, "welcome")
        await send(ws, op="subscribe", sub="s", source="store")
        await recv(ws, "subscribed")
        hub = live.app.state.eventflux.hub
        for _ in range(500):
            if hub.feeds:
                break
            await asyncio.sleep(0.01)
        (feed,) = hub.feeds
        pad = "x" * 65536
        for i in range(1000):  # nobody reads the socket meanwhile
            await store.append(f"s-{i}", [NewEvent("E", {"i": i, "pad": pad})])
            await asyncio.sleep(0)
            if feed.closed is not None:
                break
        assert feed.closed is not None
        assert feed.closed.overflowed
        positions: list[int] = []
        while True:
            frame = await recv(ws)
            if frame["type"] == "event":
                positions.append(frame["event"]["position"])
            elif frame["type"] == "dropped":
                break
        assert frame["sub"] == "s"
        assert frame["after"] == (positions[-1] if positions else 0)
        assert positions == list(range(1, len(positions) + 1))
        # subscribing again from "after" gets the rest, each event once
        await send(ws, op="subscribe", sub="s2", source="store", after=frame["after"])
        await recv(ws, "subscribed")
        nxt = await recv(ws, "event")
        assert nxt["event"]["position"] == frame["after"] + 1
