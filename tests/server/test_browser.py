"""The dashboard in a real browser: Debian's Chromium driven by Playwright
(never a browser download). Live tail, dead-letter retries, the causal chain
diagram, logging in, and untrusted event data that never executes."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import expect
from tests.server.conftest import LiveServer, running
from tests.server.test_api_bus import eventually

from eventflux import NewEvent, Reject
from eventflux.bus import Message, MessageBus
from eventflux.store import EventStore

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Browser tests never skip: scripts/test installs Chromium (as root) or stops with
# a message saying how. A missing browser fails here, with that message.
pytestmark: list[pytest.MarkDecorator] = []


def require_chromium() -> None:
    assert os.access(CHROMIUM, os.X_OK), (
        "the browser tests need Debian's Chromium at /usr/bin/chromium "
        "(apt-get install chromium chromium-driver; scripts/test does it as root)"
    )


@pytest_asyncio.fixture
async def browser_page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    require_chromium()
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as p:
            context = await p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS
            )
            page = await context.new_page()
            page.set_default_timeout(15_000)
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
            try:
                yield page
            finally:
                await context.close()


async def wait_live(page: Any) -> None:
    await page.wait_for_selector("body[data-live-status=live]")


@pytest.mark.asyncio
async def test_the_tail_shows_an_appended_event_live(live: LiveServer, browser_page: Any) -> None:
    page = browser_page
    await page.goto(live.url + "/tail")
    await wait_live(page)
    await page.evaluate("window.__stayed = true")
    async with httpx.AsyncClient(base_url=live.url) as client:
        r = await client.post(
            "/api/streams/order-7", json={"events": [{"type": "OrderPlaced", "data": {"n": 7}}]}
        )
        assert r.status_code == 201
    row = page.locator("tr.tail-event", has_text="OrderPlaced")
    await row.wait_for()
    assert "order-7@1" in await row.inner_text()
    assert await page.evaluate("window.__stayed") is True  # no reload
    assert live.app.state.eventflux.limiter.count("open") == 1  # one live connection per page
    assert page.errors == []


@pytest.mark.asyncio
async def test_the_tail_resumes_after_a_dropped_connection(
    live: LiveServer, browser_page: Any
) -> None:
    page = browser_page
    await page.goto(live.url + "/tail")
    await wait_live(page)
    await live.store.append("a-1", [NewEvent("First", {})])
    await page.locator("tr.tail-event", has_text="First").wait_for()
    for feed in live.app.state.eventflux.hub.feeds:  # the server drops the page's feed
        feed.close("dropped by the test")
    await page.wait_for_selector("body[data-live-status=reconnecting]")
    await live.store.append("a-1", [NewEvent("Second", {})])
    await page.locator("tr.tail-event", has_text="Second").wait_for()
    await live.store.append("a-1", [NewEvent("Third", {})])
    await page.locator("tr.tail-event", has_text="Third").wait_for()
    positions = await page.locator("tr.tail-event").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.position))"
    )
    assert sorted(positions) == [1, 2, 3]  # each once: resumed after the last id


async def letters(bus: MessageBus, n: int) -> list[bool]:
    """``n`` dead letters in group pay; the handler accepts them once ``ok[0]``."""
    ok = [False]

    @bus.subscribe("orders.created", group="pay", max_deliver=1)
    async def pay(msg: Message) -> None:
        if not ok[0]:
            raise Reject("card declined")

    await bus.ready()
    for i in range(n):
        await bus.publish("orders.created", {"order": i})

    async def dead() -> bool:
        return len(await bus.dlq.list()) == n

    await eventually(dead, "the dead letters")
    return ok


@pytest.mark.asyncio
async def test_retrying_dead_letters_from_the_page(live: LiveServer, browser_page: Any) -> None:
    page = browser_page
    ok = await letters(live.bus, 4)
    ok[0] = True  # the gateway is back: retried letters are handled
    await page.goto(live.url + "/dead-letters")
    count = page.locator("#letters-count")
    assert await count.inner_text() == "4"
    assert await page.locator("tr.letter").first.inner_text() != ""
    assert "card declined" in await page.locator("table.letters").inner_text()

    await page.locator("button.retry-one").first.click()
    await expect(count).to_have_text("3")

    questions: list[str] = []

    async def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await page.fill("input[name=n]", "2")
    await page.click("#retry-first")
    await expect(count).to_have_text("1")
    assert questions[-1] == "Retry the first 2 of 3 dead letters?"

    await page.click("#purge")
    await expect(count).to_have_text("0")
    assert "Delete all 1 dead letter(s)" in questions[-1]
    assert await live.bus.dlq.list() == []


@pytest.mark.asyncio
async def test_retry_all_asks_and_can_be_refused(live: LiveServer, browser_page: Any) -> None:
    page = browser_page
    await letters(live.bus, 2)
    await page.goto(live.url + "/dead-letters")
    questions: list[str] = []

    async def refuse(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", refuse)
    await page.click("#retry-all")
    await eventually(lambda: _true(bool(questions)), "the confirmation")
    assert questions == ["Retry all 2 dead letter(s)?"]
    assert await page.locator("#letters-count").inner_text() == "2"
    assert len(await live.bus.dlq.list()) == 2


async def _true(value: bool) -> bool:
    return value


@pytest.mark.asyncio
async def test_the_causal_chain_is_drawn(live: LiveServer, browser_page: Any) -> None:
    await live.store.append("order-1", [NewEvent("Placed", {}, metadata={"correlation_id": "c9"})])
    (placed,) = [e async for e in live.store.read("order-1")]
    meta = {"correlation_id": "c9", "causation_id": str(placed.id)}
    await live.store.append("payment-1", [NewEvent("Charged", {}, metadata=meta)])
    page = browser_page
    await page.goto(live.url + "/event?stream=order-1&version=1")
    await page.click("#causal-chain")
    svg = page.locator("#diagram svg")
    await svg.wait_for()
    text = await svg.text_content() or ""
    assert "order-1" in text
    assert "payment-1" in text
    assert "Charged" in text


@pytest.mark.asyncio
async def test_logging_in_with_a_token(
    backends: tuple[EventStore, MessageBus], browser_page: Any
) -> None:
    store, bus = backends
    async with running(store, bus) as live:
        token = await live.token("read")
        page = browser_page
        await page.goto(live.url + "/streams")
        assert page.url.startswith(live.url + "/login")
        await page.fill("input[name=token]", "efx_nope_nope")
        await page.click("button[type=submit]")
        assert "not valid" in await page.locator("#login-error").inner_text()
        await page.fill("input[name=token]", token)
        await page.click("button[type=submit]")
        await page.wait_for_url(live.url + "/streams")
        assert await page.locator("#open-banner").count() == 0
        await wait_live(page)


XSS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 1">',
    '"><svg onload="window.__xss = 1">',
    "javascript:window.__xss=1",
]


@pytest.mark.asyncio
async def test_untrusted_event_data_never_executes(live: LiveServer, browser_page: Any) -> None:
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    stream = "acc-" + XSS[1]
    meta = {"correlation_id": XSS[0], "note": XSS[2]}
    await live.store.append(
        stream, [NewEvent(XSS[0], {"html": XSS[1], "x": XSS[2]}, metadata=meta)]
    )

    @live.bus.subscribe("evil.subject", group="g")
    async def refuse(msg: Message) -> None:
        raise Reject(XSS[1])

    await live.bus.ready()
    await live.bus.publish("evil.subject", {"p": XSS[0]})

    async def dead() -> bool:
        return len(await live.bus.dlq.list()) == 1

    await eventually(dead, "the dead letter")
    from urllib.parse import quote

    paths = [
        "/",
        "/streams",
        f"/stream?name={quote(stream)}",
        f"/event?stream={quote(stream)}&version=1",
        "/events",
        "/dead-letters",
        f"/trace?correlation_id={quote(XSS[0])}",
        f"/streams?prefix={quote(XSS[2])}",
    ]
    for path in paths:
        await page.goto(live.url + path)
        await page.wait_for_load_state("load")
        assert await page.evaluate("window.__xss") is None, path
    await page.goto(live.url + f"/event?stream={quote(stream)}&version=1")
    data = await page.locator("#event-data").inner_text()
    assert "<img src=x onerror=" in data  # shown as text, not dropped
    await page.goto(live.url + "/tail")
    await wait_live(page)
    await live.store.append("x-" + XSS[2], [NewEvent(XSS[1], {"h": XSS[0]})])
    row = page.locator("tr.tail-event").first
    await row.wait_for()
    assert XSS[1] in await row.inner_text()
    await asyncio.sleep(0)  # let any handler that could run, run
    assert await page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.errors == []
