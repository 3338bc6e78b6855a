"""The trading page in a real browser (Debian's Chromium driven by Playwright,
launched as the server's browser tests do): a crossing order sent from the
page is answered at once, and its trade shows on the tape and in the
portfolio; a halt shows on the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tests.server.conftest import LiveServer, running
from tests.server.test_browser import browser_page, pytestmark

from eventflux import App, open_bus, open_store
from eventflux.demos import trading
from eventflux.demos.trading import FundAccount, SubmitOrder, make_app
from eventflux.demos.trading.halts import ManualClock
from eventflux.server.served import ServedApp

FOLDER = Path(trading.__file__).resolve().parent

__all__ = ["browser_page", "pytestmark"]


@pytest_asyncio.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Any, App, ManualClock]]:
    clock = ManualClock(0.0)
    app = make_app(
        store="memory://",
        bus="memory://",
        read_model=f"sqlite:///{tmp_path}/read.db",
        symbols={"ACME": 100_00},
        simulate=False,
        clock=clock,
    )
    async with await open_store("memory://") as store, await open_bus("memory://") as bus:
        # made here, not held by a module: say where its templates are
        served_app = ServedApp(app, FOLDER)
        async with running(store, bus, keepalive=0.2, apps=[served_app]) as server:
            await app.dispatch(FundAccount("mm", 1_000_000_00, {"ACME": 1_000}))
            await app.dispatch(FundAccount("ann", 50_000_00))
            await app.dispatch(SubmitOrder("mm", "ACME", "sell", 100, 100_25))
            await app.dispatch(SubmitOrder("mm", "ACME", "buy", 100, 99_75))
            yield server, app, clock


@pytest.mark.asyncio
async def test_a_crossing_order_from_the_page_trades_and_shows(
    served: tuple[LiveServer, App, ManualClock], browser_page: Any
) -> None:
    server, _, _ = served
    page = browser_page
    await page.goto(server.url + "/demos/trading/?symbol=ACME&account=ann")
    await page.locator("#depth td.ask", has_text="100.25").first.wait_for()
    await page.select_option("#order-side", "buy")
    await page.fill("#order-quantity", "10")
    await page.fill("#order-price", "10100")  # crosses the 100.25 ask
    await page.click("#order-submit")
    feedback = page.locator("#order-feedback")
    await feedback.locator("text=filled").wait_for()
    assert "10 filled at 100.25" in (await feedback.inner_text())
    row = page.locator("#tape tbody tr").first
    await row.locator("text=ann").wait_for()
    assert "100.25" in await row.inner_text()
    position = page.locator('#portfolio tr[data-row="ACME"]')
    await position.wait_for()
    assert "10 @ 100.25" in await position.inner_text()
    await page.locator("#chart polyline").count()
    # a refused order is answered with its reason
    await page.fill("#order-quantity", "100000")
    await page.click("#order-submit")
    await feedback.locator("text=rejected").wait_for()
    assert "buying power" in await feedback.inner_text()
    assert page.errors == []


@pytest.mark.asyncio
async def test_a_halt_shows_on_the_page(
    served: tuple[LiveServer, App, ManualClock], browser_page: Any
) -> None:
    server, app, _ = served
    await app.dispatch(FundAccount("bob", 0, {"ACME": 500}))
    await app.dispatch(SubmitOrder("bob", "ACME", "sell", 100, tif="ioc"))  # at 99.75
    await app.dispatch(SubmitOrder("mm", "ACME", "buy", 100, 85_00))
    await app.dispatch(SubmitOrder("bob", "ACME", "sell", 100, tif="ioc"))  # at 85: -14.8%
    page = browser_page
    await page.goto(server.url + "/demos/trading/?symbol=ACME&account=ann")
    banner = page.locator("#halt-banner")
    await banner.locator("text=ACME is halted").wait_for()
    assert "price moved" in await banner.inner_text()
    halts = page.locator("#halts tbody tr").first
    assert "breaker trading-halt-ACME: open" in await halts.inner_text()
    assert page.errors == []
