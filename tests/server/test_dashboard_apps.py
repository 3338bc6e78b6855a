"""The dashboard's pages of the served Apps without a browser: the live topics,
the rebuild action and its refusals, the causal chain page, prefixes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from tests.server import minishop
from tests.server._sse import sse_items
from tests.server.conftest import Api, LiveServer
from tests.server.test_api_bus import eventually


@pytest.mark.asyncio
async def test_the_live_connection_carries_the_topics_a_page_follows(shop: LiveServer) -> None:
    async with (
        httpx.AsyncClient(base_url=shop.url, timeout=20) as client,
        client.stream("GET", "/live?topics=groups,projections,breakers") as feed,
    ):
        assert feed.status_code == 200
        seen: dict[str, object] = {}
        items = sse_items(feed)
        while len(seen) < 4:
            item = await asyncio.wait_for(items.__anext__(), 20)
            if item.event is not None:
                seen[item.event] = item.json()
        rates = seen["rates"]
        assert isinstance(rates, dict)
        assert {"lag", "open_breakers", "dead_letters"} <= set(rates)
        groups = seen["groups"]
        assert isinstance(groups, list)
        assert {g["name"] for g in groups} == {"minishop-payments", "minishop-audit"}
        projections = seen["projections"]
        assert isinstance(projections, list)
        assert projections[0]["name"] == "minishop-orders"
        breakers = seen["breakers"]
        assert isinstance(breakers, list)
        assert "minishop-gateway" in {b["name"] for b in breakers}


@pytest.mark.asyncio
async def test_an_unknown_topic_is_400(api: Api) -> None:
    r = await api.client.get("/live?topics=groups,nope")
    assert r.status_code == 400
    assert r.json()["error"]["parameter"] == "topics"


@pytest.mark.asyncio
async def test_the_rebuild_action_starts_a_rebuild_or_says_why_not(shop: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=shop.url) as client:
        r = await client.post("/projections/rebuild", data={"name": "nope"})
        assert "There is no projection" in r.text
        r = await client.post("/projections/rebuild", data={"name": "minishop-orders"})
        assert "Rebuilding minishop-orders" in r.text

        async def done() -> bool:
            row = (await client.get("/api/projections")).json()["projections"][0]
            return bool(row["rebuild"] and row["rebuild"]["state"] == "done")

        await eventually(done, "the rebuild")
        await shop.token("admin")
        reader = await shop.token("read")
        client.cookies.set("eventflux_token", reader)
        r = await client.post("/projections/rebuild", data={"name": "minishop-orders"})
        assert "needs a token with scope &#39;admin&#39;" in r.text
        page = await client.get("/projections")
        assert "rebuild-button" not in page.text  # a reader gets no button
        prefixed = await shop.token("admin", prefix="order-")
        client.cookies.set("eventflux_token", prefixed)
        r = await client.post("/projections/rebuild", data={"name": "minishop-orders"})
        assert "without a prefix" in r.text
        assert "rebuild-button" not in (await client.get("/projections")).text
        sagas = await client.get("/sagas")
        assert 'id="sagas-empty"' in sagas.text


@pytest.mark.asyncio
async def test_the_causal_chain_page_lists_every_hop(shop: LiveServer) -> None:
    await minishop.app.dispatch(
        minishop.PlaceOrder("5", 9), metadata={"correlation_id": "page-5", "actor": "ann"}
    )

    async def charged() -> bool:
        return bool([e async for e in shop.store.read_all(types=["PaymentCharged"])])

    await eventually(charged, "the payment")
    async with httpx.AsyncClient(base_url=shop.url) as client:
        page = await client.get("/trace?correlation_id=page-5")
        assert page.status_code == 200
        assert page.text.count('class="hop hop-') == 5
        assert "participant P2 as subject shop.OrderPlaced" in page.text
        missing = await client.get("/trace?correlation_id=nobody")
        assert 'id="trace-empty"' in missing.text
        bad = await client.get("/trace?correlation_id=a%00b")
        assert bad.status_code == 400
