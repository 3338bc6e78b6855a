"""Child process of the server-kill test: appends through outages until killed.

Usage: python _pg_outage_writer.py URL NAME
Four tasks append batches of 1 to 3 events to their own streams with the exact
expected version. An append that fails because the server is gone is sent
again, unchanged, until it succeeds (a retry of a stored batch returns its
original result, so it is never stored twice). Prints ``ack STREAM FIRST LAST
ID...`` after each acknowledged append.
"""

from __future__ import annotations

import asyncio
import random
import sys

from eventflux import NewEvent, StoreUnavailableError, open_store


async def main(url: str, name: str) -> None:
    rng = random.Random(name)
    store = await open_store(url)

    async def worker(k: int) -> None:
        stream = f"{name}-{k}"
        version = await store.stream_version(stream)
        while True:
            events = [NewEvent("Tick", {"k": k}) for _ in range(rng.randint(1, 3))]
            while True:
                try:
                    r = await store.append(stream, events, expected_version=version)
                    break
                except StoreUnavailableError:
                    await asyncio.sleep(0.02)
            version = r.last_version
            ids = " ".join(str(e.id) for e in events)
            sys.stdout.write(f"ack {stream} {r.first_version} {r.last_version} {ids}\n")
            sys.stdout.flush()

    await asyncio.gather(*(worker(k) for k in range(4)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
