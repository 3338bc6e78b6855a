"""Exactly once across crashes, on every read model: SIGKILL a projection process
mid-batch, restart it, and every event is in the read model exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.cqrs._places import ReadPlace
from tests.cqrs._waits import wait_checkpoint

from eventflux import EventStore, NewEvent, open_store
from eventflux.cqrs import ReadModel

ROOT = Path(__file__).resolve().parents[2]
N = 2000


def _start(place: ReadPlace, name: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EVENTFLUX_TEST_READ_URL": place.url}
    with open(log, "ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eventflux.cli",
                "projections",
                "run",
                name,
                "--store",
                place.store_url,
                "--app",
                "tests.cqrs._crash_app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


async def _append_ticks(store: EventStore, start: int, count: int) -> int:
    await store.append("ticks", [NewEvent("Tick", {"n": n}) for n in range(start, start + count)])
    return start + count


async def _consistent(model: ReadModel, store: EventStore, name: str) -> int:
    """The read model is the fold of every event up to its checkpoint, each once
    (read from one snapshot); returns the checkpoint."""
    async with model.snapshot() as db:
        applied = await db.fetch_all("SELECT position, n FROM applied ORDER BY position, n")
        totals = await db.fetch_one("SELECT count, sum FROM totals")
        checkpoint = await db.fetch_value(
            "SELECT position FROM eventflux_checkpoints WHERE name = :name", {"name": name}
        )
    events = [e async for e in store.read_all() if e.position <= checkpoint]
    assert [(r["position"], r["n"]) for r in applied] == [(e.position, e.data["n"]) for e in events]
    assert totals == {"count": len(events), "sum": sum(e.data["n"] for e in events)}
    return int(checkpoint)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_sigkill_mid_stream_then_restart_applies_each_event_exactly_once(
    place: ReadPlace, tmp_path: Path
) -> None:
    log = tmp_path / "runner.err"
    async with await open_store(place.store_url) as store:
        for start in range(0, N, 100):
            await _append_ticks(store, start, 100)
        head = await store.last_position()
        model = place.open()
        deadline = time.monotonic() + 50
        for threshold in (300, 900, 1500):
            child = _start(place, "tick-counter", log)
            try:
                await wait_checkpoint(model, "tick-counter", threshold, deadline)
            finally:
                child.send_signal(signal.SIGKILL)
                await asyncio.to_thread(child.wait, 10)
            checkpoint = await _consistent(model, store, "tick-counter")
            assert threshold <= checkpoint < head, "killed mid-stream"
        child = _start(place, "tick-counter", log)
        try:
            await wait_checkpoint(model, "tick-counter", head, deadline)
        finally:
            child.send_signal(signal.SIGTERM)  # a clean stop
            code = await asyncio.to_thread(child.wait, 10)
        assert code == 0, log.read_text()
        assert await _consistent(model, store, "tick-counter") == head == N


@pytest.mark.slow
@pytest.mark.asyncio
async def test_sigkilled_async_runner_restarts_while_events_arrive(
    place: ReadPlace, tmp_path: Path
) -> None:
    """A runner with an async handler is killed with SIGKILL at random moments
    while events are appended; restarted, it applies each event exactly once."""
    rng = random.Random(os.environ.get("EVENTFLUX_TEST_SEED", "projection-crash"))
    log = tmp_path / "runner.err"
    name = "async-tick-counter"
    deadline = time.monotonic() + 60
    async with await open_store(place.store_url) as store:
        model = place.open()
        appended = await _append_ticks(store, 0, 600)
        stop = asyncio.Event()

        async def appender() -> None:
            nonlocal appended
            while not stop.is_set():
                appended = await _append_ticks(store, appended, 5)
                await asyncio.sleep(0.02)

        appending = asyncio.create_task(appender())
        checkpoint = kills = mid_batch = 0
        try:
            for _ in range(8):
                child = _start(place, name, log)
                try:
                    # it makes progress first, so that each kill hits a working runner
                    await wait_checkpoint(model, name, checkpoint + 1, deadline)
                    await asyncio.sleep(rng.uniform(0.0, 0.15))
                finally:
                    child.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(child.wait, 10)
                kills += 1
                before = await _consistent(model, store, name)
                assert before > checkpoint
                checkpoint = before
                mid_batch += checkpoint < appended
        finally:
            stop.set()
            await appending
        assert kills == 8
        assert mid_batch >= 4, "the kills did not land while the runner had work"
        head = await store.last_position()
        child = _start(place, name, log)
        try:
            await wait_checkpoint(model, name, head, deadline)
        finally:
            child.send_signal(signal.SIGTERM)  # a clean stop
            code = await asyncio.to_thread(child.wait, 10)
        assert code == 0, log.read_text()
        assert await _consistent(model, store, name) == head
        assert await model.fetch_one("SELECT count, sum FROM totals") == {
            "count": appended,
            "sum": sum(range(appended)),
        }
