"""A group's start point is fixed by the ``subscribe`` call itself: a message
published from any handle, in any process, after ``subscribe(...)`` returned
reaches the group, with no ``ready()``. 100 trials per backend, zero loss.

In-process trials on two handles run in the contract suite
(``DurableBusContract``) for SQLite and NATS; here: two facades on one memory
backend, and a subscriber process that tells a publisher process, right after
each ``subscribe`` returned, to publish (SQLite and NATS).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from tests.servers.nats import NatsServer, nats_server

from eventflux.bus import MessageBus, open_bus
from eventflux.bus.memory import MemoryBusBackend
from eventflux.testing.bus_contract import Recorder, eventually
from eventflux.testing.bus_contract.wrappers import BackendWrapper

__all__ = ["nats_server"]

TRIALS = 100

#: The subscriber process: per trial a new group; right after subscribe returned
#: (nothing awaited in between) it prints the trial's number, then waits for the
#: message and prints "got N" (or "lost N" after 20 s).
SUBSCRIBER = textwrap.dedent(
    """
    import asyncio, sys
    from eventflux.bus import open_bus

    async def main(url, trials):
        async with await open_bus(url) as bus:
            for i in range(trials):
                got = asyncio.Event()
                bus.subscribe(f"start.t{i}", lambda msg, got=got: got.set(), group=f"g{i}")
                print(i, flush=True)
                try:
                    await asyncio.wait_for(got.wait(), 20)
                    print(f"got {i}", flush=True)
                except TimeoutError:
                    print(f"lost {i}", flush=True)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@pytest.mark.asyncio
async def test_two_handles_on_one_memory_backend(tmp_path: Path) -> None:
    backend = MemoryBusBackend()
    subscriber = MessageBus(backend)
    publisher = MessageBus(BackendWrapper(backend, close_inner=False))
    recs = [Recorder() for _ in range(TRIALS)]
    for i, rec in enumerate(recs):
        subscriber.subscribe(f"start.t{i}", rec, group=f"g{i}")
        await publisher.publish(f"start.t{i}", {"n": i})
    await eventually(lambda: all(r.messages for r in recs), 30, "every trial's message")
    assert [r.data for r in recs] == [[{"n": i}] for i in range(TRIALS)]
    await publisher.close()
    await subscriber.close()


async def _trials_across_processes(url: str) -> list[str]:
    """Run the subscriber process; publish each trial's message as soon as it says
    its subscribe returned; return its verdict lines."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUBSCRIBER,
        url,
        str(TRIALS),
        stdout=subprocess.PIPE,
    )
    verdicts: list[str] = []
    assert proc.stdout is not None
    try:
        async with await open_bus(url) as publisher:
            while len(verdicts) < TRIALS:
                line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
                assert line, "the subscriber process ended early"
                if line.isdigit():
                    await publisher.publish(f"start.t{line}", {"n": int(line)})
                else:
                    verdicts.append(line)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return verdicts


@pytest.mark.asyncio
@pytest.mark.timeout(300)
async def test_a_publisher_process_right_after_subscribe_returned_sqlite(tmp_path: Path) -> None:
    verdicts = await _trials_across_processes(f"sqlite:///{tmp_path}/bus.db")
    assert verdicts == [f"got {i}" for i in range(TRIALS)]


@pytest.mark.asyncio
@pytest.mark.nats
@pytest.mark.timeout(300)
async def test_a_publisher_process_right_after_subscribe_returned_nats(
    nats_server: NatsServer,
) -> None:
    url = f"{nats_server.url}?stream=S{uuid.uuid4().hex[:10]}&partitions=1"
    verdicts = await _trials_across_processes(url)
    assert verdicts == [f"got {i}" for i in range(TRIALS)]
