"""The orders page: its JSON routes, and in a real browser (Debian's Chromium
driven by Playwright) placing an order and watching it complete, and toggling
the gateway's outage to watch the breaker open and recover.

The page is served by the server ``eventflux serve`` runs: the ``orders``
App's page and its web routes (``web.routes(orders)``) under ``/demos/orders``,
the four services' workers running in the server."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.server.conftest import running
from tests.server.test_browser import ARGS, CHROMIUM, require_chromium

from eventflux import open_bus, open_store
from eventflux.cli.serve_apps import demo_targets
from eventflux.demos.orders import configure, orders, settings
from eventflux.demos.orders.payments_app import breaker
from eventflux.sagas import ManualClock
from eventflux.server.served import ServedApp

from ._helpers import Shop, eventually, order_ids, smooth


@pytest_asyncio.fixture
async def site() -> AsyncIterator[tuple[str, Shop]]:
    """``eventflux serve``'s server serving the orders demo's four Apps (their
    workers run in it) on memory backends; the page at ``/demos/orders``."""
    before = settings()
    configure(decline_rate=0.0, shipping_failure_rate=0.0)  # orders placed here complete
    breaker.reset()
    clock = ManualClock()
    orders.sagas.clock = clock
    served = [
        ServedApp.of(t.app, t.module, t.seed, t.routes)
        for t in demo_targets(["eventflux.demos.orders"])
    ]
    assert sorted(s.name for s in served) == ["orders", "payments", "shipping", "stock"]
    try:
        async with (
            await open_store("memory://") as store,
            await open_bus("memory://") as bus,
            running(store, bus, apps=served, keepalive=0.2) as live,
        ):
            yield live.url + "/demos/orders", Shop(store, bus, clock)
    finally:
        configure(**dataclasses.asdict(before))
        breaker.reset()


@pytest.mark.asyncio
async def test_the_json_routes(site: tuple[str, Shop]) -> None:
    url, s = site
    async with httpx.AsyncClient(base_url=url) as client:
        page = await client.get("/", follow_redirects=True)
        assert page.status_code == 200
        assert "Place order" in page.text
        assert 'data-base="/demos/orders/"' in page.text
        script = await client.get("/static/orders.js")
        assert script.status_code == 200
        assert "api/orders" in script.text
        placed = await client.post("/api/orders", json={"sku": "mug", "qty": 2, "customer": "bo"})
        assert placed.status_code == 201
        oid = placed.json()["order_id"]
        await s.final(oid)
        one = (await client.get(f"/api/orders/{oid}")).json()
        assert one["status"] == "completed"
        assert one["trace"] == f"/trace?correlation_id={one['correlation_id']}"
        assert [t["service"] for t in one["timeline"]][:2] == ["orders", "saga"]
        first = {f"first-{i}" for i in range(1, 6)}  # the seed's orders, placed at start

        async def listed() -> dict[str, Any] | None:
            found: dict[str, Any] = (await client.get("/api/orders")).json()
            return found if {o["order_id"] for o in found["orders"]} >= first else None

        rows = (await eventually(listed, what="the first orders"))["orders"]
        assert {o["order_id"] for o in rows} == first | {oid}
        assert [o["placed_at"] for o in rows] == sorted(
            (o["placed_at"] for o in rows), reverse=True
        )
        load = await client.post("/api/load", json={"n": 5})
        assert (load.status_code, load.json()) == (202, {"placed": 5})
        for bad in ({"sku": "nope"}, {"qty": 0}, {"qty": True}, {"customer": ""}):
            r = await client.post("/api/orders", json=bad)
            assert r.status_code == 400, bad
            assert set(r.json()["error"]) == {"type", "message"}
        assert (await client.post("/api/load", json={"n": 10**6})).status_code == 400
        assert (await client.post("/api/gateway", json={"down": "yes"})).status_code == 400
        assert (await client.post("/api/orders", content=b"[1")).status_code == 400
        assert (await client.get("/api/orders/nope")).status_code == 404
        gateway = await client.post("/api/gateway", json={"down": True})
        assert gateway.json() == {"down": True, "breakers": []}
    async with httpx.AsyncClient(base_url=url.removesuffix("/demos/orders")) as client:
        sagas = (await client.get("/api/sagas", params={"name": "OrderFulfilment"})).json()
        mine = [row for row in sagas["sagas"] if row["key"] == oid]
        assert [(row["status"], row["state"]["status"]) for row in mine] == [
            ("completed", "completed")
        ]
        assert (await client.get("/demos")).status_code == 200


@pytest_asyncio.fixture
async def browser_page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    require_chromium()  # a missing browser fails with how to install it, never skips
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as p:
            context = await p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS
            )
            page = await context.new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.errors = errors  # type: ignore[attr-defined]
            try:
                yield page
            finally:
                await context.close()


@pytest.mark.asyncio
async def test_placing_an_order_and_watching_it_complete(
    site: tuple[str, Shop], browser_page: Any
) -> None:
    from playwright.async_api import expect

    url, _ = site
    page = browser_page
    await page.goto(url)
    await page.fill("#customer", "<img src=x onerror=window.__pwned=1>")
    await page.select_option("[data-testid=sku]", "teapot")
    await page.click("[data-testid=place]")
    await expect(page.locator("[data-testid=message]")).to_contain_text("placed w-")
    status = page.locator("[data-testid=detail-status]")
    await expect(status).to_have_text("completed")
    timeline = page.locator("[data-testid=timeline] li")
    types = await timeline.evaluate_all("items => items.map(i => i.dataset.type)")
    assert types[0] == "orders.OrderPlaced"
    assert {
        "SagaStarted",
        "orders.StockReserved",
        "orders.PaymentCharged",
        "orders.OrderShipped",
    } <= set(types)
    assert types[-1] in ("orders.OrderCompleted", "SagaFinished")
    link = page.locator("[data-testid=trace-link]")
    assert (await link.get_attribute("href")).startswith("/trace?correlation_id=")
    row = page.locator("tr.order").first
    await expect(row).to_have_attribute("data-status", "completed")
    assert "<img" in await page.locator("[data-testid=detail]").inner_text()  # shown, not run
    assert await page.evaluate("window.__pwned") is None
    assert page.errors == []


@pytest.mark.asyncio
async def test_an_outage_opens_the_breaker_and_it_recovers(
    site: tuple[str, Shop], browser_page: Any
) -> None:
    from playwright.async_api import expect

    url, s = site
    page = browser_page
    await page.goto(url)
    await page.click("[data-testid=outage]")
    await expect(page.locator("[data-testid=gateway-state]")).to_have_text("down (outage)")
    for oid in order_ids(smooth, 4, prefix="page"):
        await s.place(oid)
    breakers = page.locator("[data-testid=breakers] .breaker")
    await expect(breakers.first).to_have_attribute("data-state", "open")
    await page.click("[data-testid=outage]")
    await expect(page.locator("[data-testid=gateway-state]")).to_have_text("up")
    await expect(breakers.first).to_have_attribute("data-state", "closed", timeout=30_000)
    for oid in order_ids(smooth, 4, prefix="page"):
        assert (await s.final(oid)).outcome == "completed"
    assert page.errors == []
