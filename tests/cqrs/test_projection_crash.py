"""Exactly once across crashes: SIGKILL a projection process mid-stream, restart it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.cqrs._waits import wait_checkpoint

from eventflux import NewEvent, open_store
from eventflux.cqrs import SQLiteReadModel

ROOT = Path(__file__).resolve().parents[2]
N = 2000


def _start(store_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventflux.cqrs",
            "tick-counter",
            "--store",
            store_url,
            "--app",
            "tests.cqrs._crash_app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _consistent(model: SQLiteReadModel) -> tuple[int, int]:
    """(applied rows, checkpoint) from one snapshot; asserts no event was applied twice."""
    with model.snapshot() as db:
        rows = db.fetch_value("SELECT count(*) FROM applied")
        distinct = db.fetch_value("SELECT count(DISTINCT position) FROM applied")
        totals = db.fetch_one("SELECT count, sum FROM totals")
        checkpoint = db.fetch_value(
            "SELECT position FROM eventflux_checkpoints WHERE name = 'tick-counter'"
        )
    assert rows == distinct
    assert totals is not None
    assert totals["count"] == rows
    assert totals["sum"] == sum(range(rows))  # events are applied in order, none skipped
    return rows, checkpoint


@pytest.mark.slow
@pytest.mark.asyncio
async def test_sigkill_mid_stream_then_restart_applies_each_event_exactly_once(
    tmp_path: Path,
) -> None:
    store_url = f"sqlite:///{tmp_path}/crash-events.db"
    async with await open_store(store_url) as store:
        for start in range(0, N, 100):
            await store.append(
                "ticks", [NewEvent("Tick", {"n": n}) for n in range(start, start + 100)]
            )
        head = await store.last_position()
    assert head == N
    model = SQLiteReadModel(tmp_path / "crash-read.db")
    deadline = time.monotonic() + 50
    kills = 0
    for threshold in (300, 900, 1500):
        child = _start(store_url)
        try:
            await wait_checkpoint(model, "tick-counter", threshold, deadline)
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate(timeout=10)
        kills += 1
        rows, checkpoint = _consistent(model)
        assert rows == checkpoint  # positions are 1..N: one row per event up to the checkpoint
        assert threshold <= checkpoint < N, "killed mid-stream"
    child = _start(store_url)
    try:
        await wait_checkpoint(model, "tick-counter", N, deadline)
    finally:
        child.send_signal(signal.SIGTERM)  # a clean stop
        _, err = child.communicate(timeout=10)
    assert child.returncode == 0, err.decode()
    assert kills == 3
    assert _consistent(model) == (N, N)
    await model.close()
