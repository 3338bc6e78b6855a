"""Randomized race: 8 writer processes (half of them stalling and rolling back
inside their transactions, half appending in single statements, of which half
stall and roll back between the statement and its commit), 3 readers tailing
live: every reader sees exactly the committed events, all in the same order.

The duration is ``EVENTFLUX_PG_RACE_SECONDS`` (default 30).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from eventflux import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HERE = Path(__file__).parent
SECONDS = float(os.environ.get("EVENTFLUX_PG_RACE_SECONDS", "30"))
WRITERS = 8
READER_PAGES = (1, 7, 512)


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_writers_readers_rollbacks(fresh_url: Callable[..., str]) -> None:
    url = fresh_url()
    asyncio.run(_create(url))
    readers = [_spawn("_pg_race_reader.py", url, page) for page in READER_PAGES]
    procs = list(readers)
    try:
        for r in readers:
            assert r.stdout is not None
            assert r.stdout.readline().strip() == "ready", r.stderr.read() if r.stderr else ""
        writers = [_spawn("_pg_race_writer.py", url, seed, SECONDS) for seed in range(WRITERS)]
        procs += writers
        acked: set[str] = set()
        rolled_back: set[str] = set()
        fast_rolled_back: set[str] = set()
        for w in writers:
            out, err = w.communicate(timeout=SECONDS + 120)
            assert w.returncode == 0, err
            for line in out.splitlines():
                kind, *ids = line.split()
                (acked if kind == "ok" else rolled_back).update(ids)
                if kind == "rf":
                    fast_rolled_back.update(ids)
        committed = asyncio.run(_read_all(url))
        assert len(committed) == len({i for _, i in committed})
        assert {i for _, i in committed} == acked
        assert not rolled_back & acked
        assert len(rolled_back - fast_rolled_back) > 0  # on the general path
        assert len(fast_rolled_back) > 0  # and on the one-statement path
        assert len(acked) > 100
        positions = [p for p, _ in committed]
        assert positions == sorted(set(positions))
        target = positions[-1]
        for r in readers:
            out, err = r.communicate(f"stop {target}\n", timeout=180)
            assert r.returncode == 0, err
            seen = [(int(p), i) for p, i in (line.split() for line in out.splitlines())]
            assert seen == committed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


async def _create(url: str) -> None:
    async with await open_store(url):
        pass


async def _read_all(url: str) -> list[tuple[int, str]]:
    async with await open_store(url) as store:
        return [(e.position, str(e.id)) async for e in store.read_all()]
