"""`eventflux worker` and `eventflux dlq list|retry|purge`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eventflux import Reject
from eventflux.bus import Message, open_bus
from eventflux.cli.bus import bus_url, register
from eventflux.cli.worker import register as register_worker
from eventflux.testing.bus_contract._base import eventually_letters

runner = CliRunner()


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    register_worker(app)
    return app


async def _make_letters(url: str) -> None:
    async with await open_bus(url) as bus:

        async def refuse(msg: Message) -> None:
            raise Reject(f"bad {msg.data['n']}")

        bus.subscribe("orders.created", refuse, group="payments")
        bus.subscribe("orders.created", refuse, group="audit")
        for n in range(3):
            await bus.publish("orders.created", {"n": n}, msg_id=f"o-{n}")
        await eventually_letters(bus, 6)


def test_the_bus_url_comes_from_the_option_the_environment_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EVENTFLUX_BUS", raising=False)
    assert bus_url(None) == "sqlite:///eventflux-bus.db"
    monkeypatch.setenv("EVENTFLUX_BUS", "memory://")
    assert bus_url(None) == "memory://"
    assert bus_url("sqlite:///x.db") == "sqlite:///x.db"


def test_dlq_list_retry_and_purge(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    asyncio.run(_make_letters(url))
    result = runner.invoke(cli(), ["dlq", "list", "--bus", url, "--json", "--group", "payments"])
    assert result.exit_code == 0, result.output
    letters = [json.loads(line) for line in result.output.splitlines()]
    assert [x["msg_id"] for x in letters] == ["o-0", "o-1", "o-2"]
    assert letters[0]["error"] == "bad 0"
    assert letters[0]["deliveries"] == 1
    assert letters[0]["data"] == {"n": 0}

    table = runner.invoke(cli(), ["dlq", "list", "--bus", url], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "6 dead letter(s)" in table.output
    assert "payments" in table.output

    one = runner.invoke(cli(), ["dlq", "retry", letters[0]["id"], "--bus", url])
    assert one.exit_code == 0, one.output
    assert "retried 1" in one.output
    unknown = runner.invoke(cli(), ["dlq", "retry", "nope", "--bus", url])
    assert unknown.exit_code == 1
    nothing = runner.invoke(cli(), ["dlq", "retry", "--bus", url])
    assert nothing.exit_code == 2

    every = runner.invoke(cli(), ["dlq", "retry", "--all", "--group", "audit", "--bus", url])
    assert "retried 3" in every.output

    refused = runner.invoke(cli(), ["dlq", "purge", "--group", "audit", "--bus", url], input="n\n")
    assert refused.exit_code == 1
    purged = runner.invoke(cli(), ["dlq", "purge", "--group", "audit", "--yes", "--bus", url])
    assert purged.exit_code == 0, purged.output
    assert "purged 3" in purged.output
    everything = runner.invoke(cli(), ["dlq", "purge", "--bus", url], input="y\n")
    assert "purged 3" in everything.output


APP = """
import asyncio, os

OUT = os.environ["WORKER_OUT"]

async def setup(bus):
    @bus.subscribe("jobs", group="workers", concurrency=2)
    async def handle(msg):
        with open(OUT, "a") as f:
            f.write(f"start {msg.data['n']}\\n")
        await asyncio.sleep(0.3)
        with open(OUT, "a") as f:
            f.write(f"done {msg.data['n']}\\n")


class App:
    def __init__(self):
        self.stopped = False

    async def start(self, bus):
        bus.subscribe("jobs", self.handle, group="workers")

    async def handle(self, msg):
        with open(OUT, "a") as f:
            f.write(f"class {msg.data['n']}\\n")

    async def stop(self):
        with open(OUT, "a") as f:
            f.write("stopped\\n")

app = App()
"""


def _spawn_worker(tmp_path: Path, target: str, url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "WORKER_OUT": str(tmp_path / "out.txt"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "eventflux.cli", "worker", target, "--bus", url],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, text: str, within: float = 20) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


async def _publish(url: str, count: int) -> None:
    async with await open_bus(url) as bus:
        await bus.publish_many([("jobs", {"n": n}) for n in range(count)])


def _count(url: str, table: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # the worker has not created the tables yet
        return 0
    finally:
        db.close()


async def _joined(url: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while _count(url, "bus_groups") == 0:
        assert time.monotonic() < deadline, "the worker never joined its group"
        await asyncio.sleep(0.02)


async def _pending(url: str) -> int:
    return _count(url, "bus_queue")


@pytest.mark.asyncio
async def test_a_worker_drains_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "jobapp.py").write_text(textwrap.dedent(APP))
    url = f"sqlite:///{tmp_path}/bus.db"
    proc = _spawn_worker(tmp_path, "jobapp:setup", url)
    try:
        await _joined(url)
        await _publish(url, 6)
        await asyncio.to_thread(_wait_for, tmp_path / "out.txt", "start 0")
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    lines = (tmp_path / "out.txt").read_text().split()
    started = {lines[i + 1] for i, w in enumerate(lines) if w == "start"}
    done = {lines[i + 1] for i, w in enumerate(lines) if w == "done"}
    assert started == done, "every started handler finished"
    assert await _pending(url) == 6 - len(done), "the rest waits for the next worker"
    assert "stopping" in out


@pytest.mark.asyncio
async def test_a_worker_runs_an_app_object_and_stops_it(tmp_path: Path) -> None:
    (tmp_path / "jobapp.py").write_text(textwrap.dedent(APP))
    url = f"sqlite:///{tmp_path}/bus.db"
    proc = _spawn_worker(tmp_path, "jobapp", url)
    try:
        await _joined(url)
        await _publish(url, 2)
        await asyncio.to_thread(_wait_for, tmp_path / "out.txt", "class 1")
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert (tmp_path / "out.txt").read_text().strip().endswith("stopped")


def test_a_worker_with_a_bad_target_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(cli(), ["worker", "no_such_module:app", "--bus", "memory://"])
    assert result.exit_code == 2
    assert "cannot import" in result.output
