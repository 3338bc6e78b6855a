"""``eventflux worker``: its Prometheus endpoint (``--metrics-port``) and its
bounded drain on SIGTERM (``--drain-timeout``)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from eventflux.bus import open_bus
from eventflux.testing.bus_contract import Recorder

APP = textwrap.dedent(
    """
    import asyncio, os

    OUT = os.environ["WORKER_OUT"]

    def note(text):
        with open(OUT, "a") as f:
            f.write(text + "\\n")

    async def quick(bus):
        @bus.subscribe("jobs", group="workers")
        async def handle(msg):
            note(f"done {msg.data['n']}")

    async def stuck(bus):
        @bus.subscribe("jobs", group="workers", handler_timeout=None)
        async def handle(msg):
            note(f"start {msg.data['n']}")
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                note(f"cancelled {msg.data['n']}")
                raise
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(tmp_path: Path, target: str, url: str, *options: str) -> subprocess.Popen[str]:
    (tmp_path / "jobapp.py").write_text(APP)
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "WORKER_OUT": str(tmp_path / "out.txt"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "eventflux.cli", "worker", target, "--bus", url, *options],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(path: Path, text: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


async def _joined(path: Path, proc: subprocess.Popen[str], within: float = 60) -> None:
    """Wait until the worker's group exists in the bus file (it subscribed)."""
    deadline = time.monotonic() + within
    while True:
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                if db.execute("SELECT count(*) FROM bus_groups").fetchone()[0]:
                    return
        except sqlite3.Error:  # no file or no tables yet
            pass
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the worker never subscribed"
        await asyncio.sleep(0.05)


async def _publish(url: str, count: int) -> None:
    async with await open_bus(url) as bus:
        await bus.publish_many([("jobs", {"n": n}) for n in range(count)])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_the_worker_serves_its_metrics(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    port = _free_port()
    proc = _worker(tmp_path, "jobapp:quick", url, "--metrics-port", str(port))
    try:
        await _joined(tmp_path / "bus.db", proc)
        deadline = time.monotonic() + 60
        await _publish(url, 3)
        await asyncio.to_thread(_wait_for, tmp_path / "out.txt", "done 2")
        wanted = 'eventflux_bus_deliveries_total{group="workers",outcome="ack"} 3.0'
        while wanted not in (text := await asyncio.to_thread(_scrape, port)):
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.05)
        assert 'eventflux_bus_acks_total{group="workers"} 3.0' in text
        assert 'eventflux_bus_handler_duration_seconds_count{group="workers"} 3.0' in text
        assert 'eventflux_bus_in_flight{group="workers"} 0.0' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 0, out
    assert f"metrics at http://127.0.0.1:{port}/metrics" in out


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_a_stuck_handler_does_not_hold_the_worker_past_its_drain_timeout(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/bus.db"
    proc = _worker(tmp_path, "jobapp:stuck", url, "--drain-timeout", "0.5")
    try:
        await _joined(tmp_path / "bus.db", proc)
        await _publish(url, 1)
        await asyncio.to_thread(_wait_for, tmp_path / "out.txt", "start 0")
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=60)  # never 3600 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "cancelled 0" in (tmp_path / "out.txt").read_text()
    async with await open_bus(url) as bus:  # the message went back, its run counted
        rec = Recorder()
        bus.subscribe("jobs", rec, group="workers")
        await rec.wait(1, within=10)
        assert rec.messages[0].data == {"n": 0}
        assert rec.messages[0].attempt == 2
