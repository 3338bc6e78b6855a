"""The API paths that answer from the served Apps: ``/api/groups``,
``/api/projections`` (and rebuilds), ``/api/breakers``, ``/api/sagas``,
``/api/trace/{correlation_id}`` and ``/metrics``, on a real server running
the minishop App's workers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from tests.server import minishop
from tests.server.conftest import LiveServer
from tests.server.test_api_bus import eventually


async def place(order_id: str, total: int = 10, *, bad: bool = False, cid: str = "") -> None:
    metadata = {"actor": "ann", **({"correlation_id": cid} if cid else {})}
    await minishop.app.dispatch(minishop.PlaceOrder(order_id, total, bad), metadata=metadata)


async def get(live: LiveServer, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        return await client.get(path, headers=headers, **kw)


async def post(live: LiveServer, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
        return await client.post(path, headers=headers)


async def settled(live: LiveServer, payments: int) -> None:
    """Wait until ``payments`` orders were charged and the read model caught up."""

    async def charged() -> bool:
        found = [e async for e in live.store.read_all(types=["PaymentCharged"])]
        return len(found) >= payments

    await eventually(charged, "the payments")
    async with asyncio.timeout(10):
        await minishop.app.settle()


def by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(x for x in items if x["name"] == name)


# -- groups ---------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_groups_show_subjects_members_lag_and_dead_letters(shop: LiveServer) -> None:
    await place("1")
    await place("2", bad=True)
    await settled(shop, 1)

    async def letter() -> bool:
        return len(await shop.bus.dlq.list(group="minishop-audit")) == 1

    await eventually(letter, "the dead letter")
    r = await get(shop, "/api/groups")
    assert r.status_code == 200
    groups = r.json()["groups"]
    payments = by_name(groups, "minishop-payments")
    assert payments["subjects"] == ["shop.OrderPlaced"]
    assert payments["members"] == 1
    assert payments["apps"] == ["minishop"]
    assert payments["dead_letters"] == 0
    audit = by_name(groups, "minishop-audit")
    assert audit["dead_letters"] == 1
    for g in groups:
        assert g["lag"] == g["pending"] + g["in_flight"]
        assert g["lag_seconds"] is None or g["lag_seconds"] >= 0
    assert [g["name"] for g in groups] == sorted(g["name"] for g in groups)


@pytest.mark.asyncio
async def test_a_group_with_waiting_messages_shows_its_lag(shop: LiveServer) -> None:
    minishop.gateway.trip()  # the payments group defers its messages
    try:
        await place("3")

        async def waiting() -> bool:
            groups = (await get(shop, "/api/groups")).json()["groups"]
            payments = by_name(groups, "minishop-payments")
            return bool(payments["lag"] >= 1 and payments["lag_seconds"] is not None)

        await eventually(waiting, "the lag")
    finally:
        minishop.gateway.reset()


@pytest.mark.asyncio
async def test_a_prefix_token_sees_the_groups_it_covers(shop: LiveServer) -> None:
    await shop.token("admin")
    shop_token = await shop.token("read", prefix="shop.")
    other = await shop.token("read", prefix="orders.")
    names = {g["name"] for g in (await get(shop, "/api/groups", shop_token)).json()["groups"]}
    assert names == {"minishop-payments", "minishop-audit"}
    assert (await get(shop, "/api/groups", other)).json() == {"groups": []}


# -- projections -------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_projections_show_status_and_lag(shop: LiveServer) -> None:
    await place("1")
    await settled(shop, 1)
    r = await get(shop, "/api/projections")
    assert r.status_code == 200
    (row,) = r.json()["projections"]
    assert row["name"] == "minishop-orders"
    assert row["app"] == "minishop"
    assert row["status"] == "running"
    assert row["head"] == await shop.store.last_position()
    assert row["lag"] == 0
    assert row["checkpoint"] == row["head"]
    assert row["rebuild"] is None
    assert row["error"] is None


@pytest.mark.asyncio
async def test_a_rebuild_replays_every_event_and_reports_it(shop: LiveServer) -> None:
    for i in range(25):
        await place(f"r{i}")
    await settled(shop, 25)
    head = await shop.store.last_position()
    r = await post(shop, "/api/projections/minishop-orders/rebuild")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "minishop-orders"
    rebuild = body["rebuild"]
    assert rebuild["state"] == "done"
    assert rebuild["replayed"] >= head
    assert rebuild["position"] == rebuild["head"] >= head
    assert rebuild["finished_at"] is not None
    assert body["lag"] == 0
    count = await minishop.app.read_model.fetch_value("SELECT count(*) FROM orders")
    assert count == 25  # rebuilt, not doubled


@pytest.mark.asyncio
async def test_a_rebuild_that_does_not_wait_answers_202_and_finishes(shop: LiveServer) -> None:
    await place("1")
    await settled(shop, 1)
    r = await post(shop, "/api/projections/minishop-orders/rebuild?wait=0")
    assert r.status_code in (200, 202)  # 202 unless it ended before the answer
    assert r.json()["rebuild"]["state"] in ("running", "done")

    async def done() -> bool:
        row = (await get(shop, "/api/projections")).json()["projections"][0]
        return bool(row["rebuild"]["state"] == "done")

    await eventually(done, "the rebuild")


@pytest.mark.asyncio
@pytest.mark.parametrize("wait", ["-1", "61", "soon", "nan", "inf"])
async def test_a_bad_wait_is_400(shop: LiveServer, wait: str) -> None:
    r = await post(shop, f"/api/projections/minishop-orders/rebuild?wait={wait}")
    assert r.status_code == 400
    assert r.json()["error"]["parameter"] == "wait"


@pytest.mark.asyncio
async def test_an_unknown_projection_is_404(shop: LiveServer) -> None:
    r = await post(shop, "/api/projections/nope/rebuild")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "UnknownProjectionError"


@pytest.mark.asyncio
async def test_rebuilding_needs_admin_without_prefix(shop: LiveServer) -> None:
    await shop.token("admin")
    for scope in ("read", "write"):
        r = await post(shop, "/api/projections/minishop-orders/rebuild", await shop.token(scope))
        assert r.status_code == 403
    prefixed = await shop.token("admin", prefix="order-")
    r = await post(shop, "/api/projections/minishop-orders/rebuild", prefixed)
    assert r.status_code == 403
    assert r.json()["error"]["prefix"] == "order-"
    r = await post(shop, "/api/projections/minishop-orders/rebuild", await shop.token("admin"))
    assert r.status_code == 200


# -- breakers ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_breakers_show_state_and_the_groups_using_them(shop: LiveServer) -> None:
    r = await get(shop, "/api/breakers")
    assert r.status_code == 200
    gateway = by_name(r.json()["breakers"], "minishop-gateway")
    assert gateway["state"] == "closed"
    assert gateway["groups"] == ["minishop-payments"]
    assert gateway["failure_threshold"] == 3
    assert gateway["failures"] == 0
    minishop.gateway.trip()
    try:
        gateway = by_name((await get(shop, "/api/breakers")).json()["breakers"], "minishop-gateway")
        assert gateway["state"] == "open"
        assert 0 < gateway["retry_after"] <= 60
        assert gateway["reason"] == "tripped"
        assert gateway["changed_at"].endswith("Z")
    finally:
        minishop.gateway.reset()


# -- sagas ---------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_sagas_list_is_empty_without_saga_instances(shop: LiveServer) -> None:
    for query in ("", "?name=Fulfilment", "?state=open", "?name=x&state=completed&limit=5"):
        r = await get(shop, "/api/sagas" + query)
        assert r.status_code == 200
        assert r.json() == {"sagas": []}


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["?limit=0", "?limit=x", "?state=%01", "?name=" + "n" * 256])
async def test_bad_saga_parameters_are_400(shop: LiveServer, query: str) -> None:
    assert (await get(shop, "/api/sagas" + query)).status_code == 400


# -- traces --------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_trace_follows_the_chain_across_the_bus(shop: LiveServer) -> None:
    await place("7", 25, cid="checkout-7")
    await settled(shop, 1)
    r = await get(shop, "/api/trace/checkout-7")
    assert r.status_code == 200
    chain = r.json()
    assert chain["correlation_id"] == "checkout-7"
    assert [(e["type"], e["stream"]) for e in chain["events"]] == [
        ("OrderPlaced", "order-7"),
        ("PaymentCharged", "payment-7"),
    ]
    placed = chain["events"][0]
    assert chain["messages"] == [
        {
            "msg_id": placed["id"],
            "subject": "shop.OrderPlaced",
            "causation_id": placed["id"],
            "actor": "ann",
        }
    ]
    assert [c["type"] for c in chain["commands"]] == ["PlaceOrder", "Charge"]
    assert [(n["kind"], n["name"]) for n in chain["nodes"]] == [
        ("command", "PlaceOrder"),
        ("event", "OrderPlaced"),
        ("message", "shop.OrderPlaced"),
        ("command", "Charge"),
        ("event", "PaymentCharged"),
    ]
    mermaid = chain["mermaid"]
    assert mermaid.startswith("sequenceDiagram")
    for participant in ("actor ann", "order-7", "subject shop.OrderPlaced", "payment-7"):
        assert f"as {participant}" in mermaid


@pytest.mark.asyncio
async def test_an_unknown_correlation_id_is_404(shop: LiveServer) -> None:
    r = await get(shop, "/api/trace/nobody-knows")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "TraceNotFound"


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/api/trace/a%00b", "/api/trace/" + "x" * 1025])
async def test_an_impossible_correlation_id_is_400(shop: LiveServer, path: str) -> None:
    assert (await get(shop, path)).status_code == 400


@pytest.mark.asyncio
async def test_a_prefix_token_sees_its_part_of_a_trace(shop: LiveServer) -> None:
    await place("8", cid="checkout-8")
    await settled(shop, 1)
    await shop.token("admin")
    orders = await shop.token("read", prefix="order-")
    chain = (await get(shop, "/api/trace/checkout-8", orders)).json()
    assert [e["stream"] for e in chain["events"]] == ["order-8"]
    assert chain["messages"] == []  # subject shop.OrderPlaced is outside "order-"
    assert "payment-8" not in chain["mermaid"]
    payments = await shop.token("read", prefix="nothing-")
    assert (await get(shop, "/api/trace/checkout-8", payments)).status_code == 404


# -- metrics -------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_metrics_are_prometheus_text_with_the_shared_gauges(shop: LiveServer) -> None:
    await place("9")
    await settled(shop, 1)
    r = await get(shop, "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'eventflux_group_lag{group="minishop-payments"} 0.0' in text
    assert 'eventflux_breaker_state{breaker="minishop-gateway"} 0.0' in text
    assert 'eventflux_projection_lag_events{projection="minishop-orders"} 0.0' in text
    assert "# TYPE eventflux_store_appends_total counter" in text


@pytest.mark.asyncio
async def test_metrics_need_a_read_token(shop: LiveServer) -> None:
    await shop.token("admin")
    r = await get(shop, "/metrics")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert (await get(shop, "/metrics", await shop.token("read"))).status_code == 200
