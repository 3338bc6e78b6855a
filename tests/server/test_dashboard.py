"""The dashboard's pages without a browser: answers, escaping, headers, log-in,
prefixes and refused actions."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from tests.server.conftest import Api
from tests.server.test_api_bus import make_letters

from eventflux import NewEvent

PAGES = [
    "/",
    "/streams",
    "/events",
    "/tail",
    "/dead-letters",
    "/trace?correlation_id=x",
    "/trace",
    "/groups",
    "/projections",
    "/breakers",
    "/sagas?name=x&state=open",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", PAGES)
async def test_pages_answer_with_security_headers(api: Api, path: str) -> None:
    await api.store.append("a-1", [NewEvent("A", {"n": 1})])
    r = await api.client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert 'id="open-banner"' in r.text  # open server: the banner says so


@pytest.mark.asyncio
async def test_stream_and_event_pages(api: Api) -> None:
    await api.store.append("acc/1", [NewEvent("Opened", {"owner": "ann"})])
    await api.store.append("acc/1", [NewEvent("Closed", {}, metadata={"correlation_id": "c-7"})])
    r = await api.client.get("/stream?name=" + quote("acc/1", safe=""))
    assert r.status_code == 200
    assert "Opened" in r.text
    assert "Closed" in r.text
    r = await api.client.get("/stream?name=acc%2F1&type=Closed")
    assert "Opened" not in r.text
    r = await api.client.get("/stream?name=acc%2F1&backwards=true&from=1")
    assert "Opened" in r.text
    assert "Closed" not in r.text
    r = await api.client.get("/event?stream=acc%2F1&version=2")
    assert r.status_code == 200
    assert "/trace?correlation_id=c-7" in r.text
    assert (await api.client.get("/event?stream=acc%2F1&version=9")).status_code == 404
    assert (await api.client.get("/stream?name=nobody")).status_code == 404
    assert (await api.client.get("/stream?name=a%00b")).status_code == 400
    assert (await api.client.get("/events?since=yesterday")).status_code == 400
    assert (await api.client.get("/event?stream=a&version=x")).status_code == 400


@pytest.mark.asyncio
async def test_streams_pages_by_fifty(api: Api) -> None:
    for i in range(60):
        await api.store.append(f"s-{i:03}", [NewEvent("A", {})])
    first = await api.client.get("/streams?prefix=s-")
    assert "s-049" in first.text
    assert "s-050" not in first.text
    assert "after=s-049" in first.text
    second = await api.client.get("/streams?prefix=s-&after=s-049")
    assert "s-050" in second.text
    assert "s-059" in second.text
    assert "next-page" not in second.text


@pytest.mark.asyncio
async def test_untrusted_text_is_escaped(api: Api) -> None:
    evil = "<script>alert(1)</script>"
    await api.store.append("x-" + evil, [NewEvent(evil, {"h": evil}, metadata={"m": evil})])
    for path in ["/", "/streams", "/events", "/stream?name=" + quote("x-" + evil)]:
        r = await api.client.get(path)
        assert evil not in r.text, path
        assert "&lt;script&gt;" in r.text, path


@pytest.mark.asyncio
async def test_pages_need_a_token_once_one_exists(api: Api) -> None:
    read = await api.token("read")
    r = await api.client.get("/streams?prefix=a")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fstreams%3Fprefix%3Da"
    assert (await api.client.get("/login")).status_code == 200
    r = await api.client.post("/login", data={"token": "bad", "next": "/"})
    assert r.status_code == 401
    r = await api.client.post("/login", data={"token": read, "next": "//evil.example/"})
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    api.client.cookies.set("eventflux_token", read)
    try:
        r = await api.client.get("/streams")
        assert r.status_code == 200
        assert 'id="open-banner"' not in r.text
        # a read token sees the list but cannot act on it
        r = await api.client.post("/dead-letters/purge", data={"group": ""})
        assert r.status_code == 200
        assert "scope &#39;admin&#39;" in r.text
    finally:
        api.client.cookies.clear()


@pytest.mark.asyncio
async def test_a_prefix_token_sees_only_its_streams(api: Api) -> None:
    await api.store.append("orders-1", [NewEvent("Placed", {})])
    await api.store.append("users-1", [NewEvent("Joined", {})])
    token = await api.token("read", prefix="orders-")
    headers = api.auth(token)
    r = await api.client.get("/streams", headers=headers)
    assert "orders-1" in r.text
    assert "users-1" not in r.text
    r = await api.client.get("/events", headers=headers)
    assert "Joined" not in r.text
    r = await api.client.get("/stream?name=users-1", headers=headers)
    assert r.status_code == 403


@pytest.mark.asyncio
async def test_dead_letter_actions(api: Api) -> None:
    handled = await make_letters(api.bus, 3)
    r = await api.client.get("/dead-letters")
    assert 'id="letters-count">3<' in r.text
    assert "Retry all 3" in r.text
    letters = await api.bus.dlq.list()
    r = await api.client.post("/dead-letters/retry", data={"id": letters[0].id})
    assert r.status_code == 200
    assert "Retried 1" in r.text
    assert len(handled) >= 4  # delivered again (and refused again by this handler)
    r = await api.client.post("/dead-letters/retry-first", data={"n": "0"})
    assert "N must be a number" in r.text
    r = await api.client.post("/dead-letters/retry", data={"id": "nope"})
    assert "gone" in r.text
    r = await api.client.post("/dead-letters/purge", data={"group": "pay"})
    assert "Purged 3" in r.text
    assert await api.bus.dlq.list() == []


@pytest.mark.asyncio
async def test_static_files_are_served(api: Api) -> None:
    for name in ["htmx-2.0.11.min.js", "mermaid-12.4.0.min.js", "dashboard.js", "dashboard.css"]:
        r = await api.client.get(f"/static/{name}")
        assert r.status_code == 200, name
    assert (await api.client.get("/favicon.ico")).status_code == 204


@pytest.mark.asyncio
async def test_the_live_line_needs_a_token(api: Api) -> None:
    await api.token("read")
    r = await api.client.get("/live")
    assert r.status_code == 401
