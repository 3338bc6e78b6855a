"""SIGKILL the PostgreSQL server (the postmaster and every backend at once, as a
crash of the machine would) three times while writer processes append: no
acknowledged event is lost or stored twice, streams stay contiguous, and a
store that was open through the outage appends again within a second of the
server's return (psycopg_pool's own reconnection delays, 1, 2, 4, 8 s, left
it unusable for seconds after a long outage)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.servers.postgres import PostgresServer, PostgresServerError

from eventflux import NewEvent, StoreUnavailableError, open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HERE = Path(__file__).parent
WRITERS = 3
KILLS = 3


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    s = PostgresServer(fsync=True)
    s.start()
    try:
        yield s
    finally:
        s.close()


def _kill(server: PostgresServer) -> None:
    """SIGKILL the server's whole process group: postmaster and backends."""
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(30)


def _start(server: PostgresServer) -> None:
    """Start the server again; right after a SIGKILL the old shared memory may
    still be held for a moment, so try again until it starts."""
    deadline = time.monotonic() + 60
    while True:
        try:
            server.start()
            return
        except PostgresServerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Acks:
    """The acknowledgements a writer prints, read on a thread as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.endswith("\n"):  # a cut-off last line is not an ack
                self.lines.append(line)

    def join(self) -> None:
        self._thread.join(30)


def _wait_for_more(acks: list[Acks], at_least: int) -> None:
    deadline = time.monotonic() + 120
    start = [len(a.lines) for a in acks]
    while any(len(a.lines) - s < at_least for a, s in zip(acks, start, strict=True)):
        assert time.monotonic() < deadline, "the writers stopped acknowledging"
        time.sleep(0.05)


def test_server_sigkilled_under_load_loses_nothing_acknowledged(server: PostgresServer) -> None:
    url = server.url(schema="killed", wait_timeout="2")
    rng = random.Random(os.environ.get("EVENTFLUX_TEST_SEED", "pg-server-kill"))

    async def create() -> None:
        async with await open_store(url) as store:
            await store.append("probe", [NewEvent("Created", {})])

    asyncio.run(create())
    writers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_pg_outage_writer.py"), url, f"w{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    acks = [Acks(w) for w in writers]
    recoveries: list[float] = []

    async def outages() -> None:
        # open through every outage, with one connection: a lost one must come back
        # by itself, fast, however long the server was away (the loop runs all along)
        probe = await open_store(f"{url}&pool_min=1&pool_max=1")
        try:
            for outage in [rng.uniform(0.2, 1.5) for _ in range(KILLS - 1)] + [6.0]:
                await asyncio.to_thread(_wait_for_more, acks, 30)
                await asyncio.to_thread(_kill, server)
                with pytest.raises(StoreUnavailableError):
                    await probe.append("probe", [NewEvent("Lost", {})])
                await asyncio.sleep(outage)  # a long outage: reconnection delays grow
                await asyncio.to_thread(_start, server)
                back = time.monotonic()
                event = NewEvent("Back", {})
                while True:  # the same event until stored: a retry is not stored twice
                    try:
                        await probe.append("probe", [event])
                        break
                    except StoreUnavailableError:
                        assert time.monotonic() - back < 30, "the store did not come back"
                recoveries.append(time.monotonic() - back)
            await asyncio.to_thread(_wait_for_more, acks, 30)  # the writers came back too
        finally:
            await probe.close()

    try:
        asyncio.run(outages())
    finally:
        for w in writers:
            w.kill()
            w.wait()
        for a in acks:
            a.join()
        for w in writers:
            for pipe in (w.stdout, w.stderr):
                if pipe is not None:
                    pipe.close()
    assert max(recoveries) < 1.0, recoveries

    acked: dict[str, tuple[str, int]] = {}
    for a in acks:
        for line in a.lines:
            _, stream, first, _last, *ids = line.split()
            for offset, event_id in enumerate(ids):
                acked[event_id] = (stream, int(first) + offset)
    assert len(acked) > WRITERS * 4 * 10

    async def check() -> None:
        async with await open_store(url, create=False) as store:
            stored = [(str(e.id), e.stream, e.version) async for e in store.read_all()]
            ids = [i for i, _, _ in stored]
            assert len(ids) == len(set(ids))  # nothing stored twice
            where = {i: (s, v) for i, s, v in stored}
            missing = [i for i in acked if i not in where]
            assert missing == []  # nothing acknowledged lost
            assert all(where[i] == acked[i] for i in acked)
            for stream in {s for s, _ in acked.values()}:
                versions = [e.version async for e in store.read(stream)]
                assert versions == list(range(1, len(versions) + 1))
            backs = [e async for e in store.read("probe") if e.type == "Back"]
            assert len(backs) == KILLS
            assert not [e async for e in store.read("probe") if e.type == "Lost"]

    asyncio.run(check())
