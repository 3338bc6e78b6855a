"""The PostgreSQL event store side by side with the eventsourcing library's
PostgreSQL module, on one throw-away server started for the run.

Run: .venv/bin/python benchmarks/_store_postgres.py [--quick]
(``benchmarks/store.py`` imports :func:`run` for its PostgreSQL rows.)

Measured, in events per second:

* batched appends: one call appends 100 events to a stream (eventflux
  ``append``; eventsourcing ``Application.save`` of an aggregate holding 100
  new events);
* read_all: the whole log, decoded (eventflux ``read_all`` into
  ``RecordedEvent``; eventsourcing ``select_notifications`` pages, each
  notification mapped to its domain event);
* 64 concurrent appenders of one event per call (eventflux: 64 tasks on one
  store; eventsourcing: 64 threads on one application, a pool of 64 connections).

The server runs with fsync on. Contenders alternate within every repeat and
each keeps its best repeat; the ratios matter, not the rates. The exit code is
0 whatever the results; each target prints PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers.postgres import PostgresServer  # noqa: E402

from eventflux import EventStore, NewEvent, open_store  # noqa: E402

BATCH = 100
CONCURRENT = 64
TARGETS = {"batched appends": 3.0, "read_all": 3.0, "64 concurrent appenders": 2.0}


# -- eventflux ---------------------------------------------------------------------------
async def ef_batched(store: EventStore, calls: int) -> float:
    stream = f"batch-{uuid.uuid4().hex[:8]}"
    version = 0
    start = time.perf_counter()
    for i in range(calls):
        events = [NewEvent("Deposited", {"amount": j, "call": i}) for j in range(BATCH)]
        await store.append(stream, events, expected_version=version)
        version += BATCH
    return calls * BATCH / (time.perf_counter() - start)


async def ef_read_all(store: EventStore) -> float:
    start = time.perf_counter()
    n = 0
    async for _ in store.read_all():
        n += 1
    return n / (time.perf_counter() - start)


async def ef_concurrent(store: EventStore, seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    count = 0
    tag = uuid.uuid4().hex[:8]

    async def appender(k: int) -> None:
        nonlocal count
        version = 0
        while time.perf_counter() < deadline:
            await store.append(
                f"one-{tag}-{k}", [NewEvent("Deposited", {"amount": 1})], expected_version=version
            )
            version += 1
            count += 1

    start = time.perf_counter()
    await asyncio.gather(*(appender(k) for k in range(CONCURRENT)))
    return count / (time.perf_counter() - start)


# -- eventsourcing -------------------------------------------------------------------------
def es_app(server: PostgresServer, schema: str) -> Any:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Account(Aggregate):
        def __init__(self) -> None:
            self.total = 0

        @event("Deposited")
        def deposit(self, amount: int, call: int) -> None:
            self.total += amount

    class Bank(Application[uuid.UUID]):
        pass

    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": "postgres",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(CONCURRENT),
        "POSTGRES_MAX_OVERFLOW": "0",
    }
    app = Bank(env=env)
    app.Account = Account  # type: ignore[attr-defined]
    return app


def es_batched(app: Any, calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        account = app.Account()
        for j in range(BATCH - 1):  # creation is an event too: 100 per save
            account.deposit(j, i)
        app.save(account)
    return calls * BATCH / (time.perf_counter() - start)


def es_read_all(app: Any) -> float:
    recorder, mapper = app.recorder, app.mapper
    start = time.perf_counter()
    n = 0
    after = 0
    while True:
        page = recorder.select_notifications(after + 1, 512)
        for notification in page:
            mapper.to_domain_event(notification)
        n += len(page)
        if len(page) < 512:
            break
        after = page[-1].id
    return n / (time.perf_counter() - start)


def es_concurrent(app: Any, seconds: float) -> float:
    counts = [0] * CONCURRENT
    accounts = [app.Account() for _ in range(CONCURRENT)]
    for a in accounts:
        app.save(a)
    deadline = time.perf_counter() + seconds

    def appender(k: int) -> None:
        account = accounts[k]
        while time.perf_counter() < deadline:
            account.deposit(1, 0)
            app.save(account)
            counts[k] += 1

    threads = [threading.Thread(target=appender, args=(k,)) for k in range(CONCURRENT)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


# -- the run -------------------------------------------------------------------------------
def run(quick: bool = False, server: PostgresServer | None = None) -> list[dict[str, Any]]:
    """Measure every row; start (and stop) a server unless one is given."""
    own = server is None
    if server is None:
        server = PostgresServer(fsync=True)
        server.start()
    try:
        return _measure(server, quick)
    finally:
        if own:
            server.close()


def _measure(server: PostgresServer, quick: bool) -> list[dict[str, Any]]:
    calls, repeats, seconds = (50, 2, 1.5) if quick else (200, 3, 4.0)
    tag = uuid.uuid4().hex[:8]
    os.environ.pop("PERSISTENCE_MODULE", None)
    app = es_app(server, "public")
    best: dict[str, list[float]] = {name: [0.0, 0.0] for name in TARGETS}

    async def ours() -> None:
        store = await open_store(server.url(schema=f"bench_{tag}"))
        try:
            for _ in range(repeats):
                best["batched appends"][0] = max(
                    best["batched appends"][0], await ef_batched(store, calls)
                )
                best["batched appends"][1] = max(best["batched appends"][1], es_batched(app, calls))
            for _ in range(repeats + 2):  # cheap, and the noisiest row
                best["read_all"][0] = max(best["read_all"][0], await ef_read_all(store))
                best["read_all"][1] = max(best["read_all"][1], es_read_all(app))
            for _ in range(repeats):
                best["64 concurrent appenders"][0] = max(
                    best["64 concurrent appenders"][0], await ef_concurrent(store, seconds)
                )
                best["64 concurrent appenders"][1] = max(
                    best["64 concurrent appenders"][1], es_concurrent(app, seconds)
                )
        finally:
            await store.close()

    try:
        asyncio.run(ours())
    finally:
        app.close()
    rows = []
    for name, (ef, peer) in best.items():
        ratio = ef / peer if peer else float("inf")
        rows.append(
            {
                "name": f"PostgreSQL: {name}",
                "eventflux": ef,
                "peer": peer,
                "ratio": ratio,
                "target": TARGETS[name],
                "pass": ratio >= TARGETS[name],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (noisier)")
    options = parser.parse_args(argv)
    rows = run(options.quick)
    print("| benchmark | eventflux events/s | eventsourcing events/s | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['eventflux']:,.0f} | {r['peer']:,.0f} | "
            f"{r['ratio']:.2f}x | >= {r['target']}x |"
        )
    print()
    for r in rows:
        verdict = "PASS" if r["pass"] else "FAIL"
        print(f"{verdict}  {r['name']}: {r['ratio']:.2f}x (target >= {r['target']}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
