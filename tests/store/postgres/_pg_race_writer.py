"""Child process of the race test: appends for a while. Writers with an even
seed sleep inside their transactions and roll back about one in five of them
(the general write path, which the pause hook selects); writers with an odd
seed append mostly to streams of their own, in single statements (the fast
path that production uses, taken when a writer predicts its streams' versions) and
stall or roll back there too, between the statement (positions drawn, head
row locked) and its commit, through the fault hook; one odd writer in two
runs faultless, as production does.

Usage: python _pg_race_writer.py URL SEED SECONDS
Prints, when done, ``ok ID...`` for each acknowledged append, ``rb ID...``
for each one rolled back (``rf ID...`` on the one-statement path), one line
per append.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from eventflux import ANY, NewEvent, open_store
from eventflux.store.postgres import PostgresStoreBackend


class Rollback(Exception):
    pass


class FastRollback(Rollback):
    """A rollback on the one-statement path."""


async def main(url: str, seed: int, seconds: float) -> None:
    rng = random.Random(seed)
    store = await open_store(url)
    backend = store.backend
    assert isinstance(backend, PostgresStoreBackend)

    async def pause(phase: str) -> None:
        if phase == "locked":  # stream rows locked, positions not drawn yet
            await asyncio.sleep(rng.random() * 0.008)
        else:  # positions drawn, COMMIT not sent: the worst moment to stall
            await asyncio.sleep(rng.random() * 0.004)
            if rng.random() < 0.2:
                raise Rollback

    async def fault(phase: str) -> None:  # the one-statement path, before COMMIT
        await asyncio.sleep(rng.random() * 0.004)
        if rng.random() < 0.2:
            raise FastRollback

    if seed % 2 == 0:
        backend.writer.pause = pause
    elif seed % 4 == 1:
        backend.writer.fault = fault
    deadline = time.monotonic() + seconds
    out: list[str] = []

    def new(w: int, i: int, n: int) -> list[NewEvent]:
        return [NewEvent("Raced", {"seed": seed, "w": w, "i": i}) for _ in range(n)]

    async def worker(w: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            events = new(w, i, rng.randint(1, 3))
            try:
                if rng.random() < 0.1:  # two streams in one transaction
                    other = new(w, -i, 1)
                    events += other
                    one, two = rng.sample(range(6), 2)
                    await store.append_many(
                        {f"s-{one}": (events[:-1], ANY), f"s-{two}": (other, ANY)}
                    )
                elif seed % 2 == 1 and rng.random() < 0.8:
                    # streams of its own: the writer predicts their versions, so
                    # its appends take the one-statement path (racing the others
                    # for the head row, which orders every writer's commits)
                    await store.append(f"own-{seed}-{rng.randrange(3)}", events)
                else:
                    await store.append(f"s-{rng.randrange(6)}", events)
            except FastRollback:
                out.append("rf " + " ".join(str(e.id) for e in events))
            except Rollback:
                out.append("rb " + " ".join(str(e.id) for e in events))
            else:
                out.append("ok " + " ".join(str(e.id) for e in events))

    await asyncio.gather(*(worker(w) for w in range(3)))
    await store.close()
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
