"""``eventflux projections list|status|rebuild|run``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux import NewEvent, open_store
from eventflux.cli.projections import register
from eventflux.cqrs import open_read_model
from eventflux.demos import shop

ROOT = Path(__file__).resolve().parents[2]


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def version() -> None:  # a second command keeps "projections" a sub-command
        pass

    return app


SHOP = "eventflux.demos.shop:app"
BANK = "eventflux.demos.bank:app"


def test_list_shows_the_projections_of_the_apps_given() -> None:
    result = CliRunner().invoke(
        _app(),
        ["projections", "list", "--app", SHOP, "--app", "tests.cqrs._crash_app:app"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    for name in ("shop-catalog", "tick-counter", "async-tick-counter"):
        assert name in result.output
    assert "bank-accounts" not in result.output  # only the Apps named


def test_status_and_rebuild_of_the_shop_catalogue(tmp_path: Path) -> None:
    asyncio.run(shop.run(tmp_path))
    url = f"sqlite:///{tmp_path}/shop-events.db"
    read = tmp_path / "shop-read.db"
    runner = CliRunner()
    app = ["--app", SHOP, "--store", url]
    result = runner.invoke(_app(), ["projections", "status", "shop-catalog", *app])
    assert result.exit_code == 0, result.output
    assert "shop-catalog" in result.output
    assert " 0 " in result.output  # lag

    # damage the read model; the rebuild repairs it from the events
    model = open_read_model(f"sqlite:///{read}")

    async def damage() -> None:
        async with model.unit_of_work("shop-catalog") as uow:
            uow.tx.execute("DELETE FROM products")
        await model.close()

    asyncio.run(damage())
    result = runner.invoke(
        _app(), ["projections", "rebuild", "shop-catalog", *app], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "rebuilding shop-catalog" in result.output
    assert "rebuilt shop-catalog: 22 events replayed and swapped in; checkpoint 22, lag 0" in (
        result.output
    )

    async def count() -> int:
        try:
            return int(await model.fetch_value("SELECT count(*) FROM products"))
        finally:
            await model.close()

    assert asyncio.run(count()) == 12

    result = runner.invoke(
        _app(),
        ["projections", "status", "--store", url, "--app", SHOP, "--app", BANK],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "bank-accounts" in result.output  # every projection of the Apps
    assert not (tmp_path / "bank-read.db").exists()  # looking creates nothing


def test_unknown_projection_and_app_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVENTFLUX_APP", raising=False)
    runner = CliRunner()
    url = f"sqlite:///{tmp_path}/e.db"
    result = runner.invoke(
        _app(), ["projections", "rebuild", "nope", "--store", url, "--app", SHOP]
    )
    assert result.exit_code == 1
    assert "no projection named 'nope'" in result.output
    result = runner.invoke(_app(), ["projections", "list", "--app", "no_such_module_here:app"])
    assert result.exit_code == 2
    assert "cannot import 'no_such_module_here'" in result.output
    result = runner.invoke(_app(), ["projections", "list", "--app", "eventflux.demos.shop:run"])
    assert result.exit_code == 2
    assert "is not an eventflux.App" in result.output
    result = runner.invoke(_app(), ["projections", "list"], terminal_width=200)
    assert result.exit_code == 2
    assert "name the App whose projections to use" in result.output
    monkeypatch.setenv("EVENTFLUX_APP", SHOP)
    result = runner.invoke(_app(), ["projections", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "shop-catalog" in result.output


def test_run_follows_the_store_until_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/events.db"

    async def fill() -> None:
        async with await open_store(url) as store:
            await store.append("ticks", [NewEvent("Tick", {"n": n}) for n in range(50)])

    asyncio.run(fill())
    code = (
        "import typer; from eventflux.cli.projections import register; "
        "app = typer.Typer(); register(app); app.command()(lambda: None); app()"
    )
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "projections",
            "run",
            "tick-counter",
            "--store",
            url,
            "--app",
            "tests.cqrs._crash_app:app",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    model = open_read_model(f"sqlite:///{tmp_path}/crash-read.db")
    try:
        deadline = time.monotonic() + 30
        while asyncio.run(model.checkpoint("tick-counter")) < 50:
            assert time.monotonic() < deadline, "the projection did not catch up"
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    assert child.returncode == 0, err.decode()
    assert "running tick-counter" in out.decode()
    assert "stopped tick-counter" in out.decode()

    async def count() -> int:
        try:
            return int(await model.fetch_value("SELECT count FROM totals"))
        finally:
            await model.close()

    assert asyncio.run(count()) == 50
