"""Child process of the race test: tails the store with a live subscription.

Usage: python _pg_race_reader.py URL PAGE_SIZE
Prints ``ready`` once subscribed. When a line ``stop POSITION`` arrives on
stdin, it waits until it has seen that position, prints ``POSITION ID`` for
every event it saw, in order, and exits.
"""

from __future__ import annotations

import asyncio
import sys

from eventflux import RecordedEvent, open_store


async def main(url: str, page_size: int) -> None:
    store = await open_store(url)
    store.page_size = page_size
    seen: list[RecordedEvent] = []
    target: list[int] = []
    done = asyncio.Event()

    async def tail() -> None:
        async for e in store.subscribe():
            seen.append(e)
            if target and e.position >= target[0]:
                done.set()

    async def control() -> None:
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        target.append(int(line.split()[1]))
        if (seen and seen[-1].position >= target[0]) or target[0] == 0:
            done.set()

    task = asyncio.create_task(tail())
    print("ready", flush=True)
    await control()
    await asyncio.wait_for(done.wait(), 120)
    task.cancel()
    await store.close()
    sys.stdout.write("".join(f"{e.position} {e.id}\n" for e in seen))
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
