"""`eventflux sagas list|show|cancel|deadlines` on SQLite files, with a real
worker process carrying out a cancellation."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux import NewEvent, open_store
from eventflux.cli.sagas import register
from eventflux.sagas import SagaAdmin

runner = CliRunner()

APP = """
from dataclasses import dataclass
from datetime import timedelta

from eventflux import App, Context, NewEvent
from eventflux.sagas import Saga, handles, starts, timeout


@dataclass(frozen=True)
class Release:
    order_id: str


app = App("cli-shop")


@app.command(Release)
async def release(cmd: Release, ctx: Context) -> None:
    await ctx.store.append(f"stock-{cmd.order_id}", [NewEvent("StockReleased", {})])


@app.saga
class Fulfilment(Saga):
    @starts("OrderPlaced", key=lambda e: e.data["order_id"])
    async def placed(self, e):
        self.state["status"] = "waiting"
        self.compensate(Release(self.key))
        self.deadline(timedelta(hours=1), "pay")
        self.deadline(timedelta(hours=2), "remind")

    @handles("PaymentCharged", key=lambda e: e.data["order_id"])
    async def paid(self, e):
        self.finish("completed")

    @timeout("pay")
    async def unpaid(self):
        self.finish("cancelled", compensate=True)

    @timeout("remind")
    async def remind(self):
        self.state["reminded"] = True
"""


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_shop.py").write_text(textwrap.dedent(APP))
    monkeypatch.setenv("EVENTFLUX_STORE", f"sqlite:///{tmp_path}/events.db")
    monkeypatch.setenv("EVENTFLUX_BUS", f"sqlite:///{tmp_path}/bus.db")
    return tmp_path


def _worker(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventflux.cli", "worker", "cli_shop:app"],
        cwd=folder,
        env={**os.environ, "EVENTFLUX_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # the banner comes once its groups have joined
        lines.append(line)
        if "app 'cli-shop'" in line:
            return proc
    raise AssertionError("the worker did not start: " + "".join(lines))


async def _place(url: str, *orders: str) -> None:
    async with await open_store(url) as store:
        for order in orders:
            await store.append(f"order-{order}", [NewEvent("OrderPlaced", {"order_id": order})])


async def _wait_for(url: str, check: str, key: str, within: float = 60.0) -> None:
    give_up = time.monotonic() + within
    async with await open_store(url) as store:
        admin = SagaAdmin(store)
        while True:
            view = await admin.instance("Fulfilment", key)
            if view is not None and (check == "started" or view.finished):
                return
            assert time.monotonic() < give_up, f"{key} did not get {check}"
            await asyncio.sleep(0.05)


@pytest.mark.slow
def test_list_show_deadlines_and_cancel(shop: Path) -> None:
    url = os.environ["EVENTFLUX_STORE"]
    worker = _worker(shop)
    try:
        asyncio.run(_place(url, "o-1", "o-2", "o-3"))
        for key in ("o-1", "o-2", "o-3"):
            asyncio.run(_wait_for(url, "started", key))

        listed = runner.invoke(cli(), ["sagas", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        views = json.loads(listed.output)
        assert [(v["saga"], v["key"], v["status"]) for v in views] == [
            ("Fulfilment", k, "open") for k in ("o-1", "o-2", "o-3")
        ]
        table = runner.invoke(cli(), ["sagas", "list", "--name", "Fulfilment"])
        assert table.exit_code == 0, table.output
        assert "3 saga instance(s)" in table.output

        deadlines = runner.invoke(cli(), ["sagas", "deadlines", "--json"])
        assert deadlines.exit_code == 0, deadlines.output
        pending = json.loads(deadlines.output)
        assert [(d["key"], d["name"]) for d in pending] == [
            ("o-1", "pay"),
            ("o-2", "pay"),
            ("o-3", "pay"),
            ("o-1", "remind"),
            ("o-2", "remind"),
            ("o-3", "remind"),
        ]

        at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
        moved = runner.invoke(
            cli(), ["sagas", "deadlines", "reschedule", "Fulfilment", "o-2", "pay", "--at",
                    at.isoformat()],
        )  # fmt: skip
        assert moved.exit_code == 0, moved.output
        gone = runner.invoke(cli(), ["sagas", "deadlines", "cancel", "Fulfilment", "o-3", "remind"])
        assert gone.exit_code == 0, gone.output
        one = runner.invoke(
            cli(), ["sagas", "deadlines", "--name", "Fulfilment", "--key", "o-2", "--json"]
        )
        assert [(d["name"], d["due"]) for d in json.loads(one.output)] == [
            ("remind", json.loads(one.output)[0]["due"]),
            ("pay", at.isoformat()),
        ]
        missing = runner.invoke(cli(), ["sagas", "deadlines", "cancel", "Fulfilment", "o-3", "x"])
        assert missing.exit_code == 1
        assert "no pending deadline 'x'" in missing.output

        cancelled = runner.invoke(
            cli(), ["sagas", "cancel", "Fulfilment", "o-1", "--reason", "customer called"]
        )
        assert cancelled.exit_code == 0, cancelled.output
        assert "finished, outcome cancelled" in cancelled.output

        shown = runner.invoke(cli(), ["sagas", "show", "Fulfilment", "o-1", "--json"])
        assert shown.exit_code == 0, shown.output
        detail = json.loads(shown.output)
        assert detail["status"] == "cancelled"
        assert detail["deadlines"] == {}
        assert [(h["type"], h["input"]["kind"], h["sent"]) for h in detail["history"]] == [
            ("SagaStarted", "event", []),
            ("SagaFinished", "cancel", ["Release"]),
        ]
        assert runner.invoke(cli(), ["sagas", "show", "Fulfilment", "o-404"]).exit_code == 1
        finished = runner.invoke(cli(), ["sagas", "list", "--state", "cancelled", "--json"])
        assert [v["key"] for v in json.loads(finished.output)] == ["o-1"]
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out
    assert asyncio.run(_released(url)) == ["stock-o-1"]


async def _released(url: str) -> list[str]:
    async with await open_store(url) as store:
        return await store.streams("stock-")


def test_reschedule_needs_one_time(shop: Path) -> None:
    result = runner.invoke(cli(), ["sagas", "deadlines", "reschedule", "Fulfilment", "o-1", "pay"])
    assert result.exit_code == 2
    assert "--at" in result.output
    naive = runner.invoke(
        cli(),
        ["sagas", "deadlines", "reschedule", "Fulfilment", "o-1", "pay", "--at", "2030-01-01"],
    )
    assert naive.exit_code == 2
    assert "time zone" in naive.output
