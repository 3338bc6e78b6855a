"""Child process of the SQLite crash and wake-up tests (run with sys.executable).

``python _append_child.py URL crash SEED``: append forever to a few streams, in
batches and with ``append_many``, printing one line ``id stream version`` per
acknowledged event (flushed at once), until killed.

``python _append_child.py URL feed N PAUSE``: append N events to stream
``feed``, each carrying the wall-clock time just before its append, with PAUSE
seconds between them; print ``done`` at the end.

``python _append_child.py URL ident``: open the store and print its store id.

``python _append_child.py URL writer STREAM``: append one event at a time to
STREAM, each with the expected version, forever (until killed).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from eventflux import NewEvent, open_store

STREAMS = ("a", "b", "c")


async def crash(url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = await open_store(url)
    versions = {s: await store.stream_version(s) for s in STREAMS}
    out = sys.stdout
    n = 0
    while True:
        n += 1
        if rng.random() < 0.3:
            s1, s2 = rng.sample(STREAMS, 2)
            spec = {
                s: ([NewEvent("Tick", {"n": n, "k": k}) for k in range(rng.randint(1, 3))], v)
                for s, v in ((s1, versions[s1]), (s2, versions[s2]))
            }
            results = await store.append_many(spec)
            acked = [(s, spec[s][0], results[s].first_version) for s in (s1, s2)]
        else:
            s = rng.choice(STREAMS)
            events = [NewEvent("Tick", {"n": n, "k": k}) for k in range(rng.randint(1, 5))]
            r = await store.append(s, events, expected_version=versions[s])
            acked = [(s, events, r.first_version)]
        lines = []
        for s, events, first in acked:
            for i, e in enumerate(events):
                lines.append(f"{e.id} {s} {first + i}\n")
            versions[s] = first + len(events) - 1
        out.write("".join(lines))
        out.flush()


async def feed(url: str, count: int, pause: float) -> None:
    async with await open_store(url) as store:
        for i in range(count):
            await asyncio.sleep(pause)
            await store.append("feed", [NewEvent("Fed", {"i": i, "t": time.time()})])
    print("done", flush=True)


async def writer(url: str, stream: str) -> None:
    async with await open_store(url) as store:
        version = await store.stream_version(stream)
        while True:
            r = await store.append(
                stream, [NewEvent("Wrote", {"v": version + 1})], expected_version=version
            )
            version = r.last_version


async def ident(url: str) -> None:
    async with await open_store(url) as store:
        print(await store.store_id(), flush=True)


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    if mode == "crash":
        asyncio.run(crash(url, int(sys.argv[3])))
    elif mode == "writer":
        asyncio.run(writer(url, sys.argv[3]))
    elif mode == "ident":
        asyncio.run(ident(url))
    elif mode == "feed":
        asyncio.run(feed(url, int(sys.argv[3]), float(sys.argv[4])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
