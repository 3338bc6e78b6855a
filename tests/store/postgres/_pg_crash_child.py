"""Child process of the SIGKILL test: appends in a loop until it is killed.

Usage: python _pg_crash_child.py URL SEED
Four tasks append batches of 1 to 4 events to their own stream with the exact
expected version, and print ``ack STREAM FIRST LAST ID...`` after each
acknowledged append.
"""

from __future__ import annotations

import asyncio
import random
import sys

from eventflux import NewEvent, open_store


async def main(url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await open_store(url)

    async def worker(k: int) -> None:
        stream = f"crash-{k}"
        version = await store.stream_version(stream)
        while True:
            events = [NewEvent("Tick", {"k": k}) for _ in range(rng.randint(1, 4))]
            r = await store.append(stream, events, expected_version=version)
            version = r.last_version
            ids = " ".join(str(e.id) for e in events)
            sys.stdout.write(f"ack {stream} {r.first_version} {r.last_version} {ids}\n")
            sys.stdout.flush()

    await asyncio.gather(*(worker(k) for k in range(4)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
