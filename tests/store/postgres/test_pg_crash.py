"""SIGKILL a writer process at random moments, 20 times: every acknowledged
event is stored exactly once and every stream's versions stay contiguous."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from eventflux import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HERE = Path(__file__).parent
ROUNDS = 20
#: libpq's application_name of the child's sessions, to find them on the server.
CHILD = "eventflux-crash-child"


def test_sigkilled_writer_loses_no_acknowledged_event(fresh_url: Callable[..., str]) -> None:
    url = fresh_url()
    child_url = f"{url}&application_name={CHILD}"
    rng = random.Random(os.environ.get("EVENTFLUX_TEST_SEED", "pg-crash"))
    acked: dict[str, tuple[str, int]] = {}
    for round_ in range(ROUNDS):
        child = subprocess.Popen(
            [sys.executable, str(HERE / "_pg_crash_child.py"), child_url, str(round_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            first = child.stdout.readline()  # wait until it is writing
            assert first.startswith("ack"), child.stderr.read() if child.stderr else ""
            time.sleep(rng.uniform(0.0, 0.4))
            child.send_signal(signal.SIGKILL)
            rest, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        lines = (first + rest).split("\n")[:-1]  # a cut-off last line is not an ack
        for line in lines:
            _, stream, first_v, _last_v, *ids = line.split()
            for offset, event_id in enumerate(ids):
                acked[event_id] = (stream, int(first_v) + offset)
        asyncio.run(_sessions_ended(url))
        asyncio.run(_check(url, acked))


async def _sessions_ended(url: str, seconds: float = 30.0) -> None:
    """Wait until the server is done with the killed child's sessions. A COMMIT
    the child sent just before it died is still carried out, maybe after its
    death: checking earlier could see it land between two reads."""
    deadline = time.monotonic() + seconds
    async with await psycopg.AsyncConnection.connect(url.split("?")[0], autocommit=True) as conn:
        while True:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (CHILD,)
            )
            row = await cur.fetchone()
            assert row is not None
            if row[0] == 0:
                return
            assert time.monotonic() < deadline, "the killed child's sessions did not end"
            await asyncio.sleep(0.01)


async def _check(url: str, acked: dict[str, tuple[str, int]]) -> None:
    async with await open_store(url) as store:
        stored: dict[str, tuple[str, int]] = {}
        for stream in await store.streams("crash-"):
            events = [e async for e in store.read(stream)]
            assert [e.version for e in events] == list(range(1, len(events) + 1))
            assert await store.stream_version(stream) == len(events)
            for e in events:
                assert str(e.id) not in stored, "an event is stored twice"
                stored[str(e.id)] = (stream, e.version)
        everything = [e async for e in store.read_all()]
        assert len(everything) == len(stored)
        positions = [e.position for e in everything]
        assert positions == sorted(set(positions))
        missing = [i for i in acked if i not in stored]
        assert not missing, f"{len(missing)} acknowledged events are lost"
        for event_id, where in acked.items():
            assert stored[event_id] == where
