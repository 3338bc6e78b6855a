"""``/api/all`` and ``/api/subscribe`` (SSE)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.server._sse import SseItem, sse_items
from tests.server.conftest import Api, LiveServer, running

from eventflux import NewEvent


async def seed(api: Any) -> None:
    await api.store.append("order-1", [NewEvent("Placed", {}, metadata={"correlation_id": "c1"})])
    await api.store.append("user-1", [NewEvent("Registered", {})])
    await api.store.append("order-2", [NewEvent("Placed", {}, metadata={"correlation_id": "c2"})])
    await api.store.append("order-1", [NewEvent("Paid", {}, metadata={"correlation_id": "c1"})])
    await api.store.append("order-3", [NewEvent("Paid", {}, metadata={"correlation_id": 7})])


@pytest.mark.asyncio
async def test_read_all_in_position_order_with_last_position(api: Api) -> None:
    await seed(api)
    r = await api.client.get("/api/all")
    payload = r.json()
    assert [e["position"] for e in payload["events"]] == [1, 2, 3, 4, 5]
    assert payload["last_position"] == 5
    r = await api.client.get("/api/all?after=2&limit=2")
    assert [e["position"] for e in r.json()["events"]] == [3, 4]
    assert r.json()["last_position"] == 4
    r = await api.client.get("/api/all?after=5")
    assert r.json() == {"events": [], "last_position": None}


@pytest.mark.asyncio
async def test_read_all_filters_apply_before_the_limit(api: Api) -> None:
    await seed(api)
    r = await api.client.get("/api/all?types=Paid&limit=1")
    assert [e["position"] for e in r.json()["events"]] == [4]
    r = await api.client.get("/api/all?types=Paid,Registered")
    assert [e["position"] for e in r.json()["events"]] == [2, 4, 5]
    r = await api.client.get("/api/all?stream_prefix=order-&types=Placed")
    assert [e["stream"] for e in r.json()["events"]] == ["order-1", "order-2"]


@pytest.mark.asyncio
async def test_read_all_by_correlation_id(api: Api) -> None:
    await seed(api)
    r = await api.client.get("/api/all?correlation_id=c1")
    assert [e["position"] for e in r.json()["events"]] == [1, 4]
    assert r.json()["last_position"] == 4
    r = await api.client.get("/api/all?correlation_id=c1&after=1")
    assert [e["position"] for e in r.json()["events"]] == [4]
    r = await api.client.get("/api/all?correlation_id=c1&types=Placed")
    assert [e["position"] for e in r.json()["events"]] == [1]
    r = await api.client.get("/api/all?correlation_id=c1&limit=1")
    assert [e["position"] for e in r.json()["events"]] == [1]
    r = await api.client.get("/api/all?correlation_id=c2&stream_prefix=user-")
    assert r.json() == {"events": [], "last_position": None}
    r = await api.client.get("/api/all?correlation_id=nobody")
    assert r.json() == {"events": [], "last_position": None}
    r = await api.client.get("/api/all?correlation_id=7")  # a number is not the string "7"
    assert r.json()["events"] == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query", ["after=-1", "after=x", "after=1e3", "limit=0", "limit=10001", "after=1&after=2"]
)
async def test_bad_read_all_parameters_are_400(api: Api, query: str) -> None:
    r = await api.client.get(f"/api/all?{query}")
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "BadRequest"


async def next_item(items: Any, *, skip_comments: bool = True) -> SseItem:
    while True:
        item: SseItem = await asyncio.wait_for(items.__anext__(), 10)
        if item.comment is None or not skip_comments:
            return item


@pytest.mark.asyncio
async def test_subscribe_catches_up_then_follows_live(live: LiveServer) -> None:
    await live.store.append("a-1", [NewEvent("Opened", {"n": 1})])
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=10) as client,
        client.stream("GET", "/api/subscribe") as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        items = sse_items(r)
        first = await next_item(items)
        assert first.retry is not None
        first = first if first.id else await next_item(items)
        assert (first.id, first.event) == ("1", "Opened")
        assert first.json()["data"] == {"n": 1}
        post = await client.post(
            "/api/streams/a-1", json={"events": [{"type": "Deposited", "data": {"n": 2}}]}
        )
        assert post.status_code == 201
        second = await next_item(items)
        assert (second.id, second.event) == ("2", "Deposited")
        assert second.json()["stream"] == "a-1"


@pytest.mark.asyncio
async def test_last_event_id_wins_over_after(live: LiveServer) -> None:
    await live.store.append("b-1", [NewEvent("E", {"i": i}) for i in range(5)])
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=10) as client,
        client.stream("GET", "/api/subscribe?after=1", headers={"Last-Event-ID": "3"}) as r,
    ):
        items = sse_items(r)
        got = [await next_item(items) for _ in range(2)]
        got = [g for g in got if g.id] or got
        ids = [g.id for g in got if g.id]
        while len(ids) < 2:
            ids.append((await next_item(items)).id)
        assert ids[:2] == ["4", "5"]


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "99999999999999999999"])
async def test_a_non_integer_last_event_id_is_400(live: LiveServer, value: str) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        r = await client.get("/api/subscribe", headers={"Last-Event-ID": value})
        assert r.status_code == 400
        assert r.json()["error"]["type"] == "BadRequest"


@pytest.mark.asyncio
async def test_idle_connections_get_keep_alive_comments(live: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=10) as client,
        client.stream("GET", "/api/subscribe") as r,
    ):
        items = sse_items(r)
        comments = 0
        while comments < 2:
            item = await next_item(items, skip_comments=False)
            if item.comment == "keep-alive":
                comments += 1


@pytest.mark.asyncio
async def test_subscribe_filters_by_type_and_prefix(live: LiveServer) -> None:
    await live.store.append("x-1", [NewEvent("A", {})])
    await live.store.append("y-1", [NewEvent("A", {})])
    await live.store.append("x-2", [NewEvent("B", {})])
    await live.store.append("x-3", [NewEvent("A", {})])
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=10) as client,
        client.stream("GET", "/api/subscribe?types=A&stream_prefix=x-") as r,
    ):
        items = sse_items(r)
        got: list[str] = []
        while len(got) < 2:
            item = await next_item(items)
            if item.id:
                got.append(item.json()["stream"])
        assert got == ["x-1", "x-3"]


@pytest.mark.asyncio
async def test_a_slow_reader_is_dropped_with_a_comment_and_resumes(
    backends: Any,
) -> None:
    store, bus = backends
    async with running(store, bus, live_queue=4, keepalive=0.2, drop_grace=0.5) as live:
        async with (
            httpx.AsyncClient(base_url=live.url, timeout=10) as client,
            client.stream("GET", "/api/subscribe") as r,
        ):
            items = sse_items(r)
            hub = live.app.state.eventflux.hub
            # wait until the connection is live (its feed is registered), then flood it
            for _ in range(500):
                if hub.feeds:
                    break
                await asyncio.sleep(0.01)
            feed = next(iter(hub.feeds))
            # the reader takes nothing meanwhile: once the socket buffers are full,
            # the writer waits and the feed's queue of 4 overflows
            pad = "x" * 65536
            for i in range(1000):
                await store.append(f"s-{i}", [NewEvent("E", {"i": i, "pad": pad})])
                await asyncio.sleep(0)
                if feed.closed is not None:
                    break
            assert feed.closed is not None
            assert feed.closed.overflowed
            last_id = None
            final: str | None = None
            async for item in items:
                if item.id:
                    last_id = item.id
                elif item.comment and "reconnect" in item.comment:
                    final = item.comment
            assert final is not None
            assert "Last-Event-ID" in final
        # resume from what arrived: every event comes once, in order
        resume = {"Last-Event-ID": last_id} if last_id else {}
        async with (
            httpx.AsyncClient(base_url=live.url, timeout=10) as client,
            client.stream("GET", "/api/subscribe", headers=resume) as r,
        ):
            items = sse_items(r)
            seen = [int(last_id)] if last_id else []
            while not seen or seen[-1] < i + 1:
                item = await next_item(items)
                if item.id:
                    seen.append(int(item.id))
            start = seen[0]
            assert seen == list(range(start, i + 2))


@pytest.mark.asyncio
async def test_head_on_the_event_stream_answers_at_once(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        r = await client.head("/api/subscribe")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
