"""Tokens on every path: 401 without a good token (with ``WWW-Authenticate:
Bearer``), 403 without the scope or the prefix; health and OpenAPI are open."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.server.conftest import Api
from tests.server.test_api_bus import make_letters

from eventflux import NewEvent, Reject
from eventflux.bus import MessageBus
from eventflux.exceptions import EventfluxError
from eventflux.server import ServerSettings, create_app
from eventflux.server.tokens import MemoryTokenStore
from eventflux.store import EventStore

APPEND = {"events": [{"type": "A", "data": {}}]}

#: (method, path, json body, the scope it needs)
PATHS: list[tuple[str, str, Any, str]] = [
    ("GET", "/api/streams", None, "read"),
    ("GET", "/api/streams/orders-1", None, "read"),
    ("POST", "/api/streams/orders-1", APPEND, "write"),
    ("GET", "/api/all", None, "read"),
    ("GET", "/api/subscribe", None, "read"),
    ("POST", "/api/publish/orders-x.created", {"data": {}}, "write"),
    ("GET", "/api/dlq", None, "read"),
    ("DELETE", "/api/dlq?group=pay", None, "admin"),
    ("POST", "/api/dlq/1/retry", None, "admin"),
    ("GET", "/api/groups", None, "read"),
    ("GET", "/api/projections", None, "read"),
    ("POST", "/api/projections/orders-view/rebuild", None, "admin"),
    ("GET", "/api/breakers", None, "read"),
    ("GET", "/api/sagas", None, "read"),
    ("GET", "/api/trace/c-1", None, "read"),
    ("GET", "/metrics", None, "read"),
]
IDS = [f"{m} {p}" for m, p, _, _ in PATHS]


async def call(api: Api, method: str, path: str, payload: Any, token: str | None) -> Any:
    headers = api.auth(token) if token is not None else {}
    return await api.client.request(method, path, json=payload, headers=headers)


@pytest_asyncio.fixture
async def secured(api: Api) -> Api:
    await api.token("admin")  # a token exists: the server is no longer open
    await api.store.append("orders-1", [NewEvent("A", {})])
    return api


def assert_401(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"]["type"] == "Unauthorized"


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload", "scope"), PATHS, ids=IDS)
async def test_no_token_is_401(
    secured: Api, method: str, path: str, payload: Any, scope: str
) -> None:
    assert_401(await call(secured, method, path, payload, None))


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload", "scope"), PATHS, ids=IDS)
async def test_bad_tokens_are_401(
    secured: Api, method: str, path: str, payload: Any, scope: str
) -> None:
    good = await secured.token("admin")
    token_id = good.split("_")[1]
    for bad in ["nonsense", "efx_", f"efx_{token_id}_wrongsecret", good + "x", "x" * 500]:
        assert_401(await call(secured, method, path, payload, bad))
    r = await secured.client.request(
        method, path, json=payload, headers={"Authorization": f"Basic {good}"}
    )
    assert_401(r)
    assert (await secured.store.stream_version("orders-1")) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload", "scope"), PATHS, ids=IDS)
async def test_a_revoked_token_is_401(
    secured: Api, method: str, path: str, payload: Any, scope: str
) -> None:
    token = await secured.token("admin")
    await secured.tokens.revoke(token.split("_")[1])
    secured.app.state.eventflux.auth.verifier.invalidate()
    assert_401(await call(secured, method, path, payload, token))


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload", "scope"), PATHS, ids=IDS)
async def test_a_lesser_scope_is_403(
    secured: Api, method: str, path: str, payload: Any, scope: str
) -> None:
    for lesser in {"write": ["read"], "admin": ["read", "write"]}.get(scope, []):
        token = await secured.token(lesser)
        r = await call(secured, method, path, payload, token)
        assert r.status_code == 403, (lesser, r.text)
        assert r.json()["error"]["type"] == "Forbidden"
    assert await secured.store.stream_version("orders-1") == 1


@pytest.mark.asyncio
async def test_scopes_nest(secured: Api) -> None:
    for scope in ["write", "admin"]:
        token = await secured.token(scope)
        r = await call(secured, "POST", "/api/streams/orders-1", APPEND, token)
        assert r.status_code == 201
        assert (await call(secured, "GET", "/api/all", None, token)).status_code == 200


#: paths that name a stream or subject outside the prefix "orders-"
OUTSIDE: list[tuple[str, str, Any]] = [
    ("GET", "/api/streams/users-1", None),
    ("POST", "/api/streams/users-1", APPEND),
    ("POST", "/api/publish/users.created", {"data": {}}),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("method", "path", "payload"), OUTSIDE)
async def test_outside_the_prefix_is_403(
    secured: Api, method: str, path: str, payload: Any
) -> None:
    token = await secured.token("admin", prefix="orders-")
    r = await call(secured, method, path, payload, token)
    assert r.status_code == 403
    assert r.json()["error"]["prefix"] == "orders-"
    assert await secured.store.stream_version("users-1") == 0


@pytest.mark.asyncio
async def test_lists_show_only_what_the_prefix_covers(secured: Api) -> None:
    await secured.store.append("users-1", [NewEvent("Registered", {})])
    await secured.store.append("orders-2", [NewEvent("Placed", {})])
    token = await secured.token("read", prefix="orders-")
    streams = (await call(secured, "GET", "/api/streams", None, token)).json()
    assert [s["stream"] for s in streams] == ["orders-1", "orders-2"]
    streams = (await call(secured, "GET", "/api/streams?prefix=users-", None, token)).json()
    assert streams == []
    streams = (await call(secured, "GET", "/api/streams?prefix=orders-2", None, token)).json()
    assert [s["stream"] for s in streams] == ["orders-2"]
    events = (await call(secured, "GET", "/api/all", None, token)).json()["events"]
    assert [e["stream"] for e in events] == ["orders-1", "orders-2"]
    events = (await call(secured, "GET", "/api/all?stream_prefix=u", None, token)).json()
    assert events == {"events": [], "last_position": None}
    r = await call(secured, "GET", "/api/streams/orders-1", None, token)
    assert r.status_code == 200


@pytest.mark.asyncio
async def test_dead_letters_follow_the_prefix(secured: Api) -> None:
    await make_letters(secured.bus, 2, subject="orders-x.created")
    await make_letters_other(secured.bus)
    token = await secured.token("admin", prefix="orders-")
    letters = (await call(secured, "GET", "/api/dlq", None, token)).json()["dead_letters"]
    assert {x["subject"] for x in letters} == {"orders-x.created"}
    others = [x for x in await secured.bus.dlq.list() if x.subject == "users.created"]
    r = await call(secured, "POST", f"/api/dlq/{others[0].id}/retry", None, token)
    assert r.status_code == 403
    r = await call(secured, "DELETE", "/api/dlq?group=pay", None, token)
    assert r.status_code == 403  # the group holds letters outside the prefix
    r = await call(secured, "DELETE", "/api/dlq", None, token)
    assert r.status_code == 403  # one group at a time
    r = await call(secured, "POST", f"/api/dlq/{letters[0]['id']}/retry", None, token)
    assert r.status_code == 200


async def make_letters_other(bus: MessageBus) -> None:
    @bus.subscribe("users.created", group="pay")
    async def refuse(msg: Any) -> None:
        raise Reject("no")

    await bus.ready()
    await bus.publish("users.created", {"n": 9})
    for _ in range(1000):
        if any(x.subject == "users.created" for x in await bus.dlq.list()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no dead letter")


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/api/health", "/api/openapi.json"])
async def test_health_and_openapi_need_no_token(secured: Api, path: str) -> None:
    assert (await secured.client.get(path)).status_code == 200


@pytest.mark.asyncio
async def test_an_open_server_answers_only_to_loopback_names_and_same_origin(api: Api) -> None:
    assert (await api.client.get("/api/streams")).status_code == 200
    r = await api.client.get("/api/streams", headers={"Host": "evil.example:8000"})
    assert r.status_code == 403  # a rebound DNS name reaching 127.0.0.1
    r = await api.client.post(
        "/api/streams/x-1", json=APPEND, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403
    r = await api.client.post(
        "/api/streams/x-1", json=APPEND, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403
    r = await api.client.post(
        "/api/streams/x-1", json=APPEND, headers={"Origin": "http://127.0.0.1:8000"}
    )
    assert r.status_code == 201
    assert (await api.client.get("/api/health", headers={"Host": "evil"})).status_code == 200


@pytest.mark.asyncio
async def test_a_cookie_token_refuses_cross_site_requests(secured: Api) -> None:
    token = await secured.token("write")
    secured.client.cookies.set("eventflux_token", token)
    try:
        r = await secured.client.post("/api/streams/orders-1", json=APPEND)
        assert r.status_code == 201
        r = await secured.client.post(
            "/api/streams/orders-1", json=APPEND, headers={"Origin": "http://evil.example"}
        )
        assert r.status_code == 403
    finally:
        secured.client.cookies.clear()


@pytest.mark.asyncio
async def test_a_server_off_loopback_needs_tokens(backends: tuple[EventStore, MessageBus]) -> None:
    store, bus = backends
    with pytest.raises(EventfluxError, match="token create"):
        create_app(store, bus, settings=ServerSettings(host="0.0.0.0"))
    tokens = MemoryTokenStore()
    app = create_app(store, bus, tokens=tokens, settings=ServerSettings(host="0.0.0.0"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://10.1.2.3:8000"
    ) as client:
        assert_401(await client.get("/api/streams"))  # no tokens yet: never open off loopback
        assert (await client.get("/api/health")).status_code == 200
