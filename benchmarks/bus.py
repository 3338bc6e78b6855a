"""The message bus: throughput and end-to-end latency.

Run: .venv/bin/python benchmarks/bus.py [--quick] [--backend sqlite|nats|all]

SQLite rows (a fresh file per run in a temp folder, WAL):

(a) published in batches, messages/s: ``publish_many`` of 1,000 messages of
    ``{"i": n, "x": "hello"}`` (id generation and encoding included) to a
    subject one group listens to, ``durability=full`` (fsync per commit; the
    default) and ``normal``. For context, raw sqlite3 ``executemany`` of rows
    of the same shape into the same table in one ``BEGIN IMMEDIATE``.
(b) published one by one by 64 concurrent tasks, messages/s (group commit
    lets them share transactions). No target: shown for context.
(c) consumed with acks, messages/s: one member (``concurrency=1000``)
    handles a backlog with a handler that returns at once; every message is
    fetched (leased), decoded into a ``Message`` and acknowledged.
(d) end-to-end latency, publish to handler across processes: a consumer
    process subscribes; this process publishes one message at a time at about
    500 messages/s; the consumer records ``now - published_at`` per message.
    p50 and p99 in milliseconds.
(e) memory of a ``memory://`` backlog: 100,000 messages of
    ``{"i": n, "x": "hello"}`` queued for a group with no running member, in
    a fresh process: its resident memory grows by this many MB (target: under
    100 MB).

Throughput rows keep the best of the repeats. The exit code is 0 whatever the
results; each target prints PASS or FAIL.

NATS rows (eventflux against raw nats-py and FastStream) come from
``benchmarks/_bus_nats.py`` when that module is present: its
``run(quick: bool) -> list[dict]`` returns rows shaped like the ones here.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from eventflux.bus import open_bus
from eventflux.bus.message import new_msg_id
from eventflux.bus.sqlite.schema import SCHEMA

HERE = Path(__file__).resolve().parent
Row = dict[str, Any]


def row(name: str, contender: str, rate: float, unit: str, target: float | None = None) -> Row:
    """A result; ``target`` is a floor, or a ceiling for sizes (unit ``MB``)."""
    passed = None
    if target is not None:
        passed = rate <= target if unit == "MB" else rate >= target
    return {
        "name": name,
        "contender": contender,
        "rate": rate,
        "unit": unit,
        "target": target,
        "pass": passed,
    }


async def _prepared(folder: str, durability: str) -> Any:
    bus = await open_bus(f"sqlite:///{folder}/bus.db?durability={durability}")
    bus.subscribe("bench", lambda msg: None, group="g")
    await bus.ready()
    await bus.unsubscribe(bus.subscriptions[0].handler)
    return bus


async def publish_batches(n: int, durability: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bus = await _prepared(folder, durability)
        try:
            start = time.perf_counter()
            for i in range(0, n, 1000):
                await bus.publish_many(
                    [("bench", {"i": j, "x": "hello"}) for j in range(i, i + 1000)]
                )
            return n / (time.perf_counter() - start)
        finally:
            await bus.close()


def raw_sqlite(n: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(f"{folder}/raw.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        now = time.time()
        start = time.perf_counter()
        for i in range(0, n, 1000):
            rows = [
                (1, 0.0, "bench", new_msg_id(), None, None,
                 orjson.dumps({"i": j, "x": "hello"}), now, None)
                for j in range(i, i + 1000)
            ]  # fmt: skip
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO bus_queue (grp, avail_at, subject, msg_id, key, headers, data,"
                " published_at, letter_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            db.execute("COMMIT")
        rate = n / (time.perf_counter() - start)
        db.close()
        return rate


async def publish_concurrent(n: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bus = await _prepared(folder, "full")
        try:

            async def task(count: int) -> None:
                for i in range(count):
                    await bus.publish("bench", {"i": i, "x": "hello"})

            start = time.perf_counter()
            await asyncio.gather(*(task(n // 64) for _ in range(64)))
            return (n // 64 * 64) / (time.perf_counter() - start)
        finally:
            await bus.close()


async def consume(n: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bus = await _prepared(folder, "full")
        try:
            for i in range(0, n, 1000):
                await bus.publish_many(
                    [("bench", {"i": j, "x": "hello"}) for j in range(i, i + 1000)]
                )
            done = asyncio.Event()
            count = 0

            def handle(msg: Any) -> None:
                nonlocal count
                count += 1
                if count == n:
                    done.set()

            start = time.perf_counter()
            bus.subscribe("bench", handle, group="g", concurrency=1000)
            await done.wait()
            return n / (time.perf_counter() - start)
        finally:
            await bus.close()


CONSUMER = """
import asyncio, sys, time
import orjson
from eventflux.bus import open_bus

async def main(url, n, out):
    lat = []
    done = asyncio.Event()
    async with await open_bus(url) as bus:
        def handle(msg):
            lat.append(time.time() - msg.published_at.timestamp())
            if len(lat) == n:
                done.set()
        bus.subscribe("latency", handle, group="g", concurrency=64)
        await bus.ready()
        print("ready", flush=True)
        await done.wait()
    with open(out, "wb") as f:
        f.write(orjson.dumps(lat))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


async def latency(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bus.db"
        out = f"{folder}/lat.json"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CONSUMER, url, str(n), out, stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        await proc.stdout.readline()  # "ready": the group exists
        async with await open_bus(url) as bus:
            for i in range(n):
                await bus.publish("latency", {"i": i})
                await asyncio.sleep(0.002)
        await proc.wait()
        lat = sorted(orjson.loads(await asyncio.to_thread(Path(out).read_bytes)))
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return p50, p99


BACKLOG = """
import asyncio, gc
from eventflux.bus import open_bus

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")

async def main():
    async with await open_bus("memory://") as bus:
        bus.subscribe("backlog", lambda msg: None, group="g")
        await bus.unsubscribe(bus.subscriptions[0].handler)  # the group keeps its messages
        gc.collect()
        before = rss_mb()
        for i in range(0, 100_000, 1000):
            await bus.publish_many([("backlog", {"i": n, "x": "hello"}) for n in range(i, i + 1000)])
        gc.collect()
        print(rss_mb() - before)

asyncio.run(main())
"""


def memory_backlog() -> float:
    """MB of resident memory a 100k-message memory-bus backlog takes (a fresh process)."""
    out = subprocess.run(
        [sys.executable, "-c", BACKLOG], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip())


async def sqlite_rows(quick: bool) -> list[Row]:
    n = 50_000 if quick else 200_000
    repeats = 1 if quick else 3
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, coro in (
            ("full", publish_batches(n, "full")),
            ("normal", publish_batches(n, "normal")),
            ("concurrent", publish_concurrent(n // 10)),
            ("consume", consume(n // 2)),
        ):
            best[name] = max(best.get(name, 0.0), await coro)
        best["raw"] = max(best.get("raw", 0.0), raw_sqlite(n))
    p50, p99 = await latency(500 if quick else 2000)
    return [
        row("(a) publish_many, batches of 1000", "eventflux sqlite durability=full",
            best["full"], "msg/s", 100_000),
        row("(a) publish_many, batches of 1000", "eventflux sqlite durability=normal",
            best["normal"], "msg/s"),
        row("(a) publish_many, batches of 1000", "raw sqlite3 executemany (same rows)",
            best["raw"], "msg/s"),
        row("(b) publish, 64 concurrent tasks", "eventflux sqlite durability=full",
            best["concurrent"], "msg/s"),
        row("(c) consume with acks, concurrency=1000", "eventflux sqlite", best["consume"],
            "msg/s", 30_000),
        row("(d) latency publish -> handler, across processes", "eventflux sqlite p50",
            p50, "ms"),
        row("(d) latency publish -> handler, across processes", "eventflux sqlite p99",
            p99, "ms"),
        row("(e) memory:// backlog of 100,000 messages", "resident memory", memory_backlog(),
            "MB", 100),
    ]  # fmt: skip


def nats_rows(quick: bool) -> list[Row] | None:
    path = HERE / "_bus_nats.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_bus_nats", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows: list[Row] = module.run(quick)
    return rows


def report(rows: list[Row]) -> None:
    print("| benchmark | contender | result | target |")
    print("|---|---|---:|---:|")
    for r in rows:
        value = f"{r['rate']:,.0f} {r['unit']}" if r["unit"] != "ms" else f"{r['rate']:.1f} ms"
        bound = "<" if r["unit"] == "MB" else ">="
        target = "" if r["target"] is None else f"{bound} {r['target']:,.0f}"
        print(f"| {r['name']} | {r['contender']} | {value} | {target} |")
    print()
    for r in rows:
        if r["pass"] is not None:
            verdict = "PASS" if r["pass"] else "FAIL"
            print(f"{verdict}  {r['name']} ({r['contender']}): {r['rate']:,.0f} {r['unit']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (noisier)")
    parser.add_argument("--backend", choices=["sqlite", "nats", "all"], default="sqlite")
    args = parser.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, sqlite {sqlite3.sqlite_version}"
    )
    print()
    rows: list[Row] = []
    if args.backend in ("sqlite", "all"):
        rows += asyncio.run(sqlite_rows(args.quick))
    if args.backend in ("nats", "all"):
        found = nats_rows(args.quick)
        if found is None:
            print("(no benchmarks/_bus_nats.py: NATS rows skipped)")
        else:
            rows += found
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
