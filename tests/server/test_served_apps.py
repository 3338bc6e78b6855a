"""Serving Apps: their workers run in the server (or not, ``workers=False``),
their pages are mounted under ``/demos/<name>`` from the templates beside
their module, and a rebuild in progress refuses a second one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from tests.server import minishop
from tests.server.conftest import LiveServer, running
from tests.server.test_api_bus import eventually

from eventflux import App, NewEvent
from eventflux.bus import MessageBus
from eventflux.cqrs import Projection, Transaction, handles
from eventflux.exceptions import ConfigurationError
from eventflux.server import create_app
from eventflux.server.served import ServedApp, ServedApps, app_folder
from eventflux.store import EventStore

HERE = Path(__file__).resolve().parent


@pytest.fixture
def read_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EVENTFLUX_READ_MODEL", f"sqlite:///{tmp_path}/read.db")
    return tmp_path


# -- pages ---------------------------------------------------------------------------------
def test_the_templates_are_found_beside_the_module_that_defines_the_app() -> None:
    assert app_folder(minishop.app) == HERE / "minishop"
    assert app_folder(minishop.app, "tests.server.minishop") == HERE / "minishop"
    served = ServedApp.of(minishop.app)
    assert served.templates == HERE / "minishop" / "templates"
    assert served.static == HERE / "minishop" / "static"
    assert served.prefix == "/demos/minishop"


@pytest.mark.asyncio
async def test_the_app_pages_are_mounted_under_demos(shop: LiveServer) -> None:
    await minishop.app.dispatch(minishop.PlaceOrder("1", 5))
    async with asyncio.timeout(10):
        await minishop.app.settle()
    async with httpx.AsyncClient(base_url=shop.url) as client:
        page = await client.get("/demos/minishop/")
        assert page.status_code == 200
        assert '<b id="order-count">1</b>' in page.text
        assert "Mini shop" in page.text
        assert 'id="open-banner"' in page.text  # the dashboard's base template
        redirect = await client.get("/demos/minishop")
        assert redirect.status_code == 307
        assert redirect.headers["location"] == "/demos/minishop/"
        static = await client.get("/demos/minishop/static/note.txt")
        assert static.text.startswith("served from the minishop app's static folder")
        index = await client.get("/demos")
        assert 'href="/demos/minishop/"' in index.text
        assert "minishop-payments" in index.text
        assert "order-* -&gt; shop.{type}" in index.text
        overview = await client.get("/")
        assert 'href="/demos/minishop/"' in overview.text


@pytest.mark.asyncio
async def test_a_page_without_its_template_says_where_it_looked(
    backends: tuple[EventStore, MessageBus], read_models: Path
) -> None:
    app = App("orphan")
    app.page("/", "missing.html")
    store, bus = backends
    async with running(store, bus, apps=[app]) as live, httpx.AsyncClient() as client:
        r = await client.get(live.url + "/demos/orphan/")
        assert r.status_code == 404
        assert "missing.html" in r.text


@pytest.mark.asyncio
async def test_a_page_context_must_be_a_mapping(
    backends: tuple[EventStore, MessageBus], read_models: Path
) -> None:
    app = App("badcontext")
    app.page("/", "minishop.html", context=lambda: ["not", "a", "mapping"])
    served = ServedApp(app, HERE / "minishop")
    store, bus = backends
    async with running(store, bus, apps=[served]) as live, httpx.AsyncClient() as client:
        r = await client.get(live.url + "/demos/badcontext/")
        assert r.status_code == 500
        assert "must return a mapping" not in r.text  # the log has it, not the page


# -- configuration -----------------------------------------------------------------------------
def test_two_apps_of_one_name_or_projection_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="share the name"):
        ServedApps.of([App("twin"), App("twin")])
    a, b = App("a"), App("b")
    a.projection(Gate)
    b.projection(Gate)
    with pytest.raises(ConfigurationError, match="both have a projection 'gate'"):
        ServedApps.of([a, b])
    with pytest.raises(ConfigurationError, match=r"must be an eventflux\.App"):
        ServedApps.of(["shop:app"])  # type: ignore[list-item]


# -- a rebuild in progress ---------------------------------------------------------------------
class Gate(Projection):
    """A projection whose handler waits until the test opens the gate."""

    name = "gate"
    opened: asyncio.Event | None = None

    def create_schema(self, tx: Transaction) -> None:
        tx.execute("CREATE TABLE seen (n INTEGER)")

    @handles("Tick")
    async def tick(self, data: dict[str, Any], tx: Transaction) -> None:
        if Gate.opened is not None:
            await Gate.opened.wait()
        tx.execute("INSERT INTO seen VALUES (:n)", {"n": data["n"]})


@pytest_asyncio.fixture
async def gated(
    backends: tuple[EventStore, MessageBus], read_models: Path
) -> AsyncIterator[LiveServer]:
    app = App("gated")
    app.projection(Gate)
    store, bus = backends
    await store.append("tick-1", [NewEvent("Tick", {"n": 1})])
    Gate.opened = None
    async with running(store, bus, apps=[app]) as live:
        async with asyncio.timeout(10):
            await app.settle()
        yield live
    Gate.opened = None


@pytest.mark.asyncio
async def test_a_second_rebuild_while_one_runs_is_409(gated: LiveServer) -> None:
    Gate.opened = asyncio.Event()
    async with httpx.AsyncClient(base_url=gated.url) as client:
        first = await client.post("/api/projections/gate/rebuild?wait=0")
        assert first.status_code == 202
        assert first.json()["status"] == "rebuilding"
        assert first.json()["rebuild"]["state"] == "running"
        second = await client.post("/api/projections/gate/rebuild")
        assert second.status_code == 409
        assert second.json()["error"]["type"] == "RebuildInProgressError"
        assert second.json()["error"]["rebuild"]["state"] == "running"
        Gate.opened.set()

        async def done() -> bool:
            row = (await client.get("/api/projections")).json()["projections"][0]
            return bool(row["rebuild"]["state"] == "done" and row["status"] == "running")

        await eventually(done, "the rebuild")


@pytest.mark.asyncio
async def test_a_failed_rebuild_says_why(gated: LiveServer) -> None:
    await gated.store.append("tick-2", [NewEvent("Tick", {})])  # no "n": the handler fails
    async with httpx.AsyncClient(base_url=gated.url) as client:
        r = await client.post("/api/projections/gate/rebuild")
        assert r.status_code == 200
        rebuild = r.json()["rebuild"]
        assert rebuild["state"] == "failed"
        assert "ProjectionError" in rebuild["error"]


# -- without workers ---------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_without_workers_the_apps_do_not_run_but_show_their_projections(
    backends: tuple[EventStore, MessageBus], read_models: Path
) -> None:
    store, bus = backends
    await store.append("order-1", [NewEvent("OrderPlaced", {"order_id": "1", "total": 3})])
    async with running(store, bus, apps=[minishop.app], workers=False) as live:
        assert not minishop.app.running_now
        async with httpx.AsyncClient(base_url=live.url) as client:
            (row,) = (await client.get("/api/projections")).json()["projections"]
            assert row["status"] == "stopped"
            assert row["lag"] == 1
            r = await client.post("/api/projections/minishop-orders/rebuild")
            assert r.json()["rebuild"]["state"] == "done"
            assert r.json()["lag"] == 0
            groups = (await client.get("/api/groups")).json()["groups"]
            assert groups == []  # nothing subscribed: no worker runs here
    assert not minishop.app.running_now


@pytest.mark.asyncio
async def test_the_apps_stop_with_the_server(
    backends: tuple[EventStore, MessageBus], read_models: Path
) -> None:
    store, bus = backends
    app = create_app(store, bus, apps=[minishop.app])
    assert app.state.eventflux.apps.find("minishop") is not None
    async with running(store, bus, apps=[minishop.app]):
        assert minishop.app.running_now
        assert {s.group for s in bus.subscriptions} >= {"minishop-payments", "minishop-audit"}
    assert not minishop.app.running_now
    assert bus.subscriptions == []


# -- a demo's own web routes and seed ----------------------------------------------------------
def test_a_demo_with_several_apps_a_seed_and_web_routes_is_found() -> None:
    from eventflux.cli.serve_apps import demo_targets

    targets = demo_targets(["tests.server.demo_like"])
    assert [t.app.name for t in targets] == ["demo_like", "demo_like_helper"]
    assert all(t.seed is not None for t in targets)
    assert [len(t.routes) for t in targets] == [2, 0]  # the App named as the demo


@pytest.mark.asyncio
async def test_a_demos_web_routes_are_mounted_behind_the_tokens(
    backends: tuple[EventStore, MessageBus], read_models: Path
) -> None:
    from eventflux.cli.serve_apps import demo_targets

    served = [
        ServedApp.of(t.app, t.module, t.seed, t.routes)
        for t in demo_targets(["tests.server.demo_like"])
    ]
    store, bus = backends
    async with (
        running(store, bus, apps=served) as live,
        httpx.AsyncClient(base_url=live.url) as client,
    ):
        ping = await client.get("/demos/demo_like/ping")
        assert ping.json() == {"app": "demo_like", "root": "/demos/demo_like"}
        assert (await client.post("/demos/demo_like/press")).status_code == 201
        assert await store.stream_version("seeded-demo_like") == 1  # the seeds ran
        assert await store.stream_version("seeded-demo_like_helper") == 1
        assert (await client.get("/demos/demo_like_helper/")).status_code == 200  # its index
        await live.token("admin")
        assert (await client.get("/demos/demo_like/ping")).status_code == 401
        browser = await client.get("/demos/demo_like/ping?x=1", headers={"Accept": "text/html"})
        assert browser.status_code == 303
        assert browser.headers["location"] == "/login?next=%2Fdemos%2Fdemo_like%2Fping%3Fx%3D1"
        reader = {"Authorization": f"Bearer {await live.token('read')}"}
        assert (await client.get("/demos/demo_like/ping", headers=reader)).status_code == 200
        refused = await client.post("/demos/demo_like/press", headers=reader)
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "Forbidden"
        writer = {"Authorization": f"Bearer {await live.token('write')}"}
        assert (await client.post("/demos/demo_like/press", headers=writer)).status_code == 201
