"""The chat page in a real browser (Debian's Chromium driven by Playwright,
never a browser download): two pages on two server processes sharing one
SQLite store and bus; what one types appears in the other, HTML stays text,
presence shows both, and a reloaded page has its history intact."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect
from tests.demos.chat._serve import ChatProcess
from tests.demos.chat.test_servers import servers
from tests.server.test_browser import ARGS, CHROMIUM, require_chromium


@pytest.fixture
def two(tmp_path: Path) -> Iterator[list[ChatProcess]]:
    with servers(tmp_path) as procs:
        yield procs


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    require_chromium()  # a missing browser fails with how to install it, never skips
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as p:
            context = await p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=ARGS
            )
            context.set_default_timeout(20_000)
            context.errors = []
            context.on("weberror", lambda e: context.errors.append(str(e.error)))
            try:
                yield context
            finally:
                await context.close()


async def open_chat(browser: Any, server: ChatProcess, user: str, room: str = "") -> Any:
    page = await browser.new_page()
    query = f"?user={user}" + (f"&room={room}" if room else "")
    await page.goto(server.url + "/demos/chat/" + query)
    await page.wait_for_selector("body[data-chat=online]")
    return page


@pytest.mark.asyncio
async def test_two_pages_on_two_servers_talk_and_a_reload_keeps_the_history(
    two: list[ChatProcess], browser: Any
) -> None:
    a, b = two
    ann = await open_chat(browser, a, "ann")
    await ann.fill("#room-name", "general")
    await ann.click("#room-create button")
    await expect(ann.locator("#room-title")).to_have_text("#general")
    await expect(ann.locator("#messages li.system")).to_have_text(
        ["ann created the room", "ann joined"]
    )

    bob = await open_chat(browser, b, "bob", room="general")
    await expect(bob.locator("#room-title")).to_have_text("#general")
    await expect(ann.locator("#presence li[data-user=bob]")).to_have_attribute(
        "data-state", "online"
    )
    await expect(bob.locator("#presence li")).to_have_text(["ann", "bob"])

    html = "<b>hi</b> <img src=x onerror=window.owned=1>"
    await ann.fill("#message-text", html)
    await ann.press("#message-text", "Enter")
    said = bob.locator("#messages li.message .text")
    await expect(said).to_have_text([html])  # shown as text on the other server's page
    await expect(ann.locator("#pending")).to_have_text("")  # acknowledged
    assert await bob.locator("#messages b, #messages img").count() == 0
    assert await bob.evaluate("window.owned") is None

    await bob.fill("#message-text", "hello ann, from the other server")
    await bob.click("#message-send")
    await expect(ann.locator("#messages li.message .text")).to_have_text(
        [html, "hello ann, from the other server"]
    )
    await expect(ann.locator("#messages li.message .who")).to_have_text(["ann", "bob"])

    await bob.reload()
    await bob.wait_for_selector("body[data-chat=online]")
    await expect(bob.locator("#messages li.message .text")).to_have_text(
        [html, "hello ann, from the other server"]
    )
    await expect(bob.locator("#messages li.system")).to_have_text(
        ["ann created the room", "ann joined", "bob joined"]
    )
    # after the reload the page still talks: both ways
    await ann.fill("#message-text", "still there?")
    await ann.press("#message-text", "Enter")
    await expect(bob.locator("#messages li.message .text").last).to_have_text("still there?")
    assert browser.errors == []
