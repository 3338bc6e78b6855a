"""The outbox relay crashed for real: a relay process is SIGKILLed while it
publishes, another one is started, and every event stored reaches the bus.

The store and the bus are SQLite files; this process appends events in small
batches and consumes the bus, a relay process publishes. The relay is killed
while it publishes the first half (whatever it was doing: between a publish
and its checkpoint, or in the middle of a batch); the second half is stored
while no relay runs; a fresh relay resumes from the checkpoint. Repeats of
the last batch are dropped by the bus's dedup window.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eventflux import NewEvent, open_store
from eventflux.bus import Message, open_bus

RELAY = textwrap.dedent(
    """
    import asyncio, sys
    from eventflux import open_store
    from eventflux.bus import open_bus
    from eventflux.bus.outbox import OutboxRelay

    async def main(store_url, bus_url):
        async with await open_store(store_url) as store, await open_bus(bus_url) as bus:
            async with OutboxRelay(store, bus, subject="bank", batch_size=50):
                print("ready", flush=True)
                await asyncio.Event().wait()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)

EVENTS = 3000


async def _relay(store_url: str, bus_url: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RELAY, store_url, bus_url, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert line.strip() == b"ready", line
    return proc


@pytest.mark.asyncio
@pytest.mark.timeout(240)
async def test_a_killed_relay_process_loses_no_event(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db?durability=normal"
    bus_url = f"sqlite:///{tmp_path}/bus.db?durability=normal"
    received: dict[str, int] = {}

    async def sink(msg: Message) -> None:
        received[msg.msg_id] = received.get(msg.msg_id, 0) + 1

    relays: list[asyncio.subprocess.Process] = []
    async with await open_store(store_url) as store, await open_bus(bus_url) as bus:
        bus.subscribe("bank.>", sink, group="sink", concurrency=64)
        ids: list[str] = []

        async def append(first: int, last: int) -> None:
            for n in range(first, last, 10):
                events = [NewEvent("Deposited", {"n": n + i}) for i in range(10)]
                await store.append(f"account-{n % 37}", events)
                ids.extend(str(e.id) for e in events)
                await asyncio.sleep(0.002)

        try:
            relays.append(await _relay(store_url, bus_url))
            appending = asyncio.get_running_loop().create_task(append(0, EVENTS // 2))
            deadline = time.monotonic() + 60
            while len(received) < EVENTS // 8:
                assert time.monotonic() < deadline, "the relay published nothing"
                await asyncio.sleep(0.01)
            relays[0].kill()  # SIGKILL, while it publishes
            await relays[0].wait()
            await appending
            await append(EVENTS // 2, EVENTS)  # stored while no relay runs
            relays.append(await _relay(store_url, bus_url))  # resumes from the checkpoint
            deadline = time.monotonic() + 120
            while len(received) < EVENTS:
                assert time.monotonic() < deadline, f"{EVENTS - len(received)} events lost"
                await asyncio.sleep(0.05)
            assert await bus.dlq.list() == []
        finally:
            for proc in relays:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    assert relays[0].returncode == -9
    assert set(received) == set(ids)
    assert len(ids) == EVENTS
