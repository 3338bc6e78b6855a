"""The orders page: its JSON routes, and in a real browser (Debian's Chromium
driven by Playwright) placing an order and watching it complete, and toggling
the gateway's outage to watch the breaker open and recover.

The page is mounted here the way the server mounts App pages, under
``/demos/orders`` of a small Starlette app (``web.routes(orders)``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from tests.servers._shared import free_port

from eventflux.demos.orders import configure, orders, settings
from eventflux.demos.orders.web import routes

from ._helpers import Shop, order_ids, shop, smooth

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest_asyncio.fixture
async def site() -> AsyncIterator[tuple[str, Shop]]:
    before = settings()
    configure(decline_rate=0.0, shipping_failure_rate=0.0)  # orders placed here complete
    try:
        async with shop() as s:
            web = Starlette(routes=[Mount("/demos/orders", routes=routes(orders))])
            async with serving(web) as url:
                yield url + "/demos/orders", s
    finally:
        configure(**dataclasses.asdict(before))


@pytest.mark.asyncio
async def test_the_json_routes(site: tuple[str, Shop]) -> None:
    url, s = site
    async with httpx.AsyncClient(base_url=url) as client:
        page = await client.get("/", follow_redirects=True)
        assert page.status_code == 200
        assert "Place order" in page.text
        assert 'data-base="/demos/orders/"' in page.text
        placed = await client.post("/api/orders", json={"sku": "mug", "qty": 2, "customer": "bo"})
        assert placed.status_code == 201
        oid = placed.json()["order_id"]
        await s.final(oid)
        one = (await client.get(f"/api/orders/{oid}")).json()
        assert one["status"] == "completed"
        assert one["trace"] == f"/trace?correlation_id={one['correlation_id']}"
        assert [t["service"] for t in one["timeline"]][:2] == ["orders", "saga"]
        listed = (await client.get("/api/orders")).json()
        assert [o["order_id"] for o in listed["orders"]] == [oid]
        assert listed["counts"] == {"completed": 1}
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


needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="needs Debian's Chromium (apt-get install chromium)"
)


@pytest_asyncio.fixture
async def browser_page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

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


@needs_chromium
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
    assert types[0] == "OrderPlaced"
    assert {"SagaStarted", "StockReserved", "PaymentCharged", "OrderShipped"} <= set(types)
    assert types[-1] in ("OrderCompleted", "SagaFinished")
    link = page.locator("[data-testid=trace-link]")
    assert (await link.get_attribute("href")).startswith("/trace?correlation_id=")
    row = page.locator("tr.order").first
    await expect(row).to_have_attribute("data-status", "completed")
    assert "<img" in await page.locator("[data-testid=detail]").inner_text()  # shown, not run
    assert await page.evaluate("window.__pwned") is None
    assert page.errors == []


@needs_chromium
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
