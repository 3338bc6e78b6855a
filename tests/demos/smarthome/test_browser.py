"""The smart-home page in a real browser (Debian's Chromium driven by
Playwright, launched as the server's browser tests do): pressing a motion
sensor's button turns the hall light's tile on; the automation's last run and
its trace show; "why?" answers; a power failure turns the tiles offline.

The page is served by ``eventflux serve``'s server (``/demos/smarthome/``,
``POST /api/publish/{subject}`` for what the page sends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import running
from tests.server.test_browser import browser_page, pytestmark

from eventflux.demos import smarthome
from eventflux.demos.smarthome import ManualClock
from eventflux.demos.smarthome.home import SmartHome
from eventflux.server.served import ServedApp

__all__ = ["browser_page", "pytestmark"]

FOLDER = Path(smarthome.__file__).resolve().parent
NIGHT = datetime(2026, 1, 16, 2, 13, tzinfo=UTC)


@asynccontextmanager
async def served(home: SmartHome) -> AsyncIterator[str]:
    """The eventflux server, serving the running hub's page (its workers run in
    the home already, so not in the server)."""
    async with running(
        home.store, home.bus, keepalive=0.2, apps=[ServedApp(home.hub, FOLDER)], workers=False
    ) as server:
        yield server.url


@pytest.mark.asyncio
async def test_a_motion_button_turns_the_hall_light_tile_on(browser_page: Any) -> None:
    page = browser_page
    async with SmartHome.open(clock=ManualClock(NIGHT)) as home, served(home) as url:
        await page.goto(url + "/demos/smarthome/")
        light = page.locator('.tile[data-entity="hall.light"]')
        await light.locator(".state", has_text="off").wait_for()
        await page.click('.tile[data-entity="hall.motion"] button[data-action="motion"]')
        await page.locator('.tile[data-entity="hall.light"][data-state="on"]').wait_for()
        assert "on 40%" in await light.inner_text()
        row = page.locator('#automations tr[data-automation="hall_light_at_night"]')
        await row.locator("text=hall.motion changed from off to on").wait_for()
        await row.locator('button[data-action="trace"]').click()
        steps = page.locator("#run-steps")
        await steps.locator("text=light.turn_on hall.light sent").wait_for()
        assert (
            "trigger motion: hall.motion changed from off to on"
            in await page.locator("#run-trigger").inner_text()
        )
        href = await page.locator("#run-chain").get_attribute("href")
        assert href.startswith("/trace?correlation_id=")
        await light.locator('button[data-action="why"]').click()
        why = page.locator("#why")
        await why.locator("text=because automation 'Hall light at night' ran").wait_for()
        assert page.errors == []
        await page.click("#run-chain")  # the dashboard's causal chain of that run
        await page.locator("text=run hall_light_at_night").first.wait_for()
        await page.locator("text=home.state").first.wait_for()


@pytest.mark.asyncio
async def test_a_power_failure_turns_the_tiles_offline(browser_page: Any) -> None:
    page = browser_page
    clock = ManualClock(NIGHT)
    home_cm = SmartHome.open(clock=clock, offline_after=timedelta(seconds=90))
    async with home_cm as home, served(home) as url:
        await page.goto(url + "/demos/smarthome/")
        await page.locator('.tile[data-entity="front.lock"]').wait_for()
        await page.click("#power-off")
        await page.locator("#feedback", has_text="sent smarthome.sim.power").wait_for()
        await home.settle()
        await home.advance(timedelta(minutes=3), step=timedelta(seconds=15))
        await page.locator('.tile.offline[data-entity="front.lock"]').wait_for()
        notes = page.locator("#notifications li", has_text="stopped answering")
        await notes.first.wait_for()
        await page.click("#power-on")
        await page.locator('.tile[data-entity="front.lock"]:not(.offline)').wait_for()
        assert page.errors == []
