"""The dashboard's pages of the served Apps in a real browser (Debian's Chromium
driven by Playwright): a causal chain across the bus drawn as a diagram,
consumer groups whose dead-letter count drops after a retry from the page,
a projection rebuilt from the page with its progress shown live, breakers,
sagas, and the App's own page."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import expect
from tests.server import minishop
from tests.server.conftest import LiveServer
from tests.server.test_api_bus import eventually
from tests.server.test_browser import XSS, browser_page, pytestmark, wait_live

from eventflux.resilience import CircuitBreaker

__all__ = ["browser_page", "pytestmark"]  # the fixture and the Chromium check, reused


async def place(order_id: str, *, bad: bool = False, cid: str = "") -> None:
    metadata = {"actor": "ann", **({"correlation_id": cid} if cid else {})}
    await minishop.app.dispatch(minishop.PlaceOrder(order_id, 10, bad), metadata=metadata)


async def charged(live: LiveServer, n: int) -> None:
    async def enough() -> bool:
        return len([e async for e in live.store.read_all(types=["PaymentCharged"])]) >= n

    await eventually(enough, "the payments")


def cell(page: Any, table: str, key: str, field: str) -> Any:
    return page.locator(f'#{table} tr[data-key="{key}"] td[data-field="{field}"]')


@pytest.mark.asyncio
async def test_a_causal_chain_across_the_bus_is_drawn(shop: LiveServer, browser_page: Any) -> None:
    await place("7", cid="checkout-7")
    await charged(shop, 1)
    page = browser_page
    await page.goto(shop.url + "/trace?correlation_id=checkout-7")
    svg = page.locator("#diagram svg")
    await svg.wait_for()
    text = await svg.text_content() or ""
    for participant in ("actor ann", "order-7", "subject shop.OrderPlaced", "payment-7"):
        assert participant in text, participant
    for arrow in ("PlaceOrder", "OrderPlaced", "Charge", "PaymentCharged"):
        assert arrow in text, arrow
    kinds = await page.locator("#hops tr.hop td:first-child").all_inner_texts()
    assert kinds == ["command", "event", "message", "command", "event"]
    # from an event's page to its chain
    await page.goto(shop.url + "/event?stream=payment-7&version=1")
    await page.click("#causal-chain")
    await page.locator("#diagram svg").wait_for()
    assert "subject shop.OrderPlaced" in (await page.locator("#diagram svg").text_content() or "")
    await page.goto(shop.url + "/trace?correlation_id=nobody")
    await expect(page.locator("#trace-empty")).to_be_visible()
    assert page.errors == []


@pytest.mark.asyncio
async def test_retrying_a_dead_letter_drops_the_groups_count(
    shop: LiveServer, browser_page: Any
) -> None:
    for i in range(3):
        await place(f"bad-{i}", bad=True)

    async def letters() -> bool:
        return len(await shop.bus.dlq.list(group="minishop-audit")) == 3

    await eventually(letters, "the dead letters")
    minishop.ACCEPT_BAD[0] = True  # retried letters are handled now
    page = browser_page
    await page.goto(shop.url + "/groups")
    count = cell(page, "groups", "minishop-audit", "dead_letters")
    await expect(count).to_have_text("3")
    await expect(cell(page, "groups", "minishop-audit", "subjects")).to_have_text(
        "shop.OrderPlaced"
    )
    await expect(cell(page, "groups", "minishop-audit", "members")).to_have_text("1")
    await count.locator("a").click()
    await page.wait_for_url("**/dead-letters?group=minishop-audit")
    await expect(page.locator("#letters-count")).to_have_text("3")
    await page.locator("button.retry-one").first.click()
    await expect(page.locator("#letters-count")).to_have_text("2")
    await page.goto(shop.url + "/groups")
    await expect(count).to_have_text("2")
    await wait_live(page)
    letter = (await shop.bus.dlq.list(group="minishop-audit"))[0]
    async with httpx.AsyncClient(base_url=shop.url) as client:  # retried elsewhere: live
        assert (await client.post(f"/api/dlq/{letter.id}/retry")).status_code == 200
    await expect(count).to_have_text("1")
    assert page.errors == []


@pytest.mark.asyncio
async def test_rebuilding_a_projection_from_the_page(shop: LiveServer, browser_page: Any) -> None:
    for i in range(30):
        await place(f"p{i}")
    async with asyncio.timeout(10):
        await minishop.app.settle()
    page = browser_page
    await page.goto(shop.url + "/projections")
    await wait_live(page)
    await expect(cell(page, "projections", "minishop-orders", "lag")).to_have_text("0")
    await expect(cell(page, "projections", "minishop-orders", "rebuild")).to_have_text("\u2013")
    await page.locator("button.rebuild-button").click()
    await expect(page.locator("#projections-message")).to_contain_text("Rebuilding minishop-orders")
    rebuilt = cell(page, "projections", "minishop-orders", "rebuild")
    await expect(rebuilt).to_contain_text("done")
    await expect(rebuilt).to_contain_text("events replayed")
    count = await minishop.app.read_model.fetch_value("SELECT count(*) FROM orders")
    assert count == 30
    assert page.errors == []


@pytest.mark.asyncio
async def test_breakers_change_live(shop: LiveServer, browser_page: Any) -> None:
    page = browser_page
    await page.goto(shop.url + "/breakers")
    state = cell(page, "breakers", "minishop-gateway", "state")
    await expect(state).to_have_text("closed")
    await expect(cell(page, "breakers", "minishop-gateway", "groups")).to_have_text(
        "minishop-payments"
    )
    await wait_live(page)
    minishop.gateway.trip()
    await expect(state).to_have_text("open")
    await expect(state).to_have_class("state-open")
    await expect(cell(page, "breakers", "minishop-gateway", "reason")).to_have_text("tripped")
    minishop.gateway.reset()
    await expect(state).to_have_text("closed")
    assert page.errors == []


@pytest.mark.asyncio
async def test_the_sagas_page_without_sagas_and_the_apps_page(
    shop: LiveServer, browser_page: Any
) -> None:
    page = browser_page
    await page.goto(shop.url + "/sagas?state=open")
    await expect(page.locator("#sagas-empty")).to_be_visible()
    await page.goto(shop.url + "/")
    await page.locator("#served-apps a", has_text="minishop").click()
    await page.wait_for_url(shop.url + "/demos/minishop/")
    await expect(page.locator("#order-count")).to_have_text("0")
    await wait_live(page)  # the App's page is a dashboard page: live rates too
    await page.goto(shop.url + "/demos")
    await expect(page.locator('tr.app[data-app="minishop"]')).to_contain_text("minishop-orders")
    assert page.errors == []


@pytest.mark.asyncio
async def test_untrusted_names_on_the_app_pages_never_execute(
    shop: LiveServer, browser_page: Any
) -> None:
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    evil = CircuitBreaker(XSS[1])  # a breaker's name is free text
    await place("x", cid=XSS[0])
    await charged(shop, 1)
    for path in ["/breakers", "/groups", "/projections", f"/trace?correlation_id={quote(XSS[0])}"]:
        await page.goto(shop.url + path)
        await wait_live(page)
        assert await page.evaluate("window.__xss") is None, path
    await page.goto(shop.url + "/breakers")
    await expect(page.locator("#breakers")).to_contain_text(XSS[1])  # shown as text
    evil.trip()
    await expect(page.locator("#breakers tr", has_text=XSS[1])).to_contain_text("open")
    assert await page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.errors == []
