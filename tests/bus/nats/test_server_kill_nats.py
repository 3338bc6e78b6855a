"""A single NATS server is SIGKILLed and restarted under load (marked slow).

The server flushes every write before acknowledging it (``sync_interval:
always``). Two member processes consume while this process publishes; a
third of the way through the server is SIGKILLed, and started again on the
same port with the same store. Publishes that fail meanwhile are repeated
with the same ``msg_id`` (dedup makes that safe). Every acknowledged publish
must be handled, no handler fails, so nothing may be dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.servers.nats import NatsServer

from eventflux.bus import open_bus
from eventflux.exceptions import BusError

from ._procs import letters, publish, spawn, stop_all, wait_ready

pytestmark = [pytest.mark.nats, pytest.mark.slow]

TOTAL = 3000


@pytest.fixture
def durable_server() -> Iterator[NatsServer]:
    with NatsServer(name="eventflux-kill", sync_always=True) as server:
        yield server


async def _publish_through_the_crash(
    url: str, server: NatsServer, restarts: list[float]
) -> set[str]:
    acked: set[str] = set()
    async with await open_bus(url) as bus:

        async def one(n: int) -> None:
            msg_id = f"k-{n}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    await bus.publish("work", {"n": n}, msg_id=msg_id)
                    acked.add(msg_id)
                    return
                except BusError:
                    assert time.monotonic() < deadline, f"{msg_id} could not be published"
                    await asyncio.sleep(0.2)

        for start in range(0, TOTAL, 50):
            if start == TOTAL // 3:
                server.kill()  # SIGKILL: nothing flushed, no goodbye
                restarts.append(time.monotonic())
                server.start()
            await asyncio.gather(*(one(n) for n in range(start, min(TOTAL, start + 50))))
    return acked


@pytest.mark.timeout(300)
def test_a_killed_and_restarted_server_loses_no_acknowledged_message(
    durable_server: NatsServer, tmp_path: Path
) -> None:
    url = f"{durable_server.url}?stream=K{uuid.uuid4().hex[:10]}&timeout=3"
    log = tmp_path / "handled.log"
    publish(url, [])  # create the streams and the group
    procs = [spawn("plain", url, log) for _ in range(2)]
    restarts: list[float] = []
    try:
        wait_ready(log, procs)
        acked = asyncio.run(_publish_through_the_crash(url, durable_server, restarts))
        assert restarts, "the server was never killed"
        assert len(acked) == TOTAL
        deadline = time.monotonic() + 120
        while True:
            handled = {line for line in log.read_text().split() if line != "ready"}
            missing = acked - handled
            if not missing:
                break
            assert time.monotonic() < deadline, f"{len(missing)} acknowledged messages lost"
            time.sleep(0.5)
        assert all(p.poll() is None for p in procs), "a member died with the server"
    finally:
        stop_all(procs)
    assert handled == acked
    dead = letters(url)
    assert dead == [], f"{len(dead)} dead letter(s) though no handler failed: {dead[:5]}"
