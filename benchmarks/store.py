"""The event store side by side with the eventsourcing library and raw sqlite3.

Run: .venv/bin/python benchmarks/store.py [--quick] [--backend sqlite|postgres|all]

SQLite rows (one file per contender in a temp folder, WAL, durable commits
everywhere: eventflux ``durability=full``, raw sqlite3 ``synchronous=FULL``,
eventsourcing's SQLite module with SQLite's default, which is FULL too):

(a) batched appends, events/s: one call appends 100 new events to a stream.
    eventflux ``append`` (building the ``NewEvent``s included); raw sqlite3
    ``executemany`` of the same rows into the same table layout (uuid7 ids,
    orjson data) in one ``BEGIN IMMEDIATE`` transaction; eventsourcing
    ``Application.save`` of an aggregate holding 100 new events.
(b) 64 concurrent appenders, events/s: eventflux, 64 asyncio tasks each
    appending one event per call; eventsourcing, one ``save`` per new aggregate
    of one event, run sequentially and on 8 threads (the better one counts;
    eventsourcing is synchronous).
(c) read_all, events/s: the whole log decoded. eventflux ``read_all`` into
    ``RecordedEvent``; raw sqlite3 iterating the same rows with orjson
    decoding of data and metadata; eventsourcing ``select_notifications``
    pages of 500, each notification mapped to its domain event.
(d) rebuilding state from 10-event streams, streams/s: eventflux ``read`` and
    a fold; eventsourcing ``repository.get``. No target: shown for context.
(e) peak memory growth (RSS) of a fresh process reading 1M events with
    ``read_all`` (200k with ``--quick``); target under 100 MB.
(f) memory growth (RSS) of a fresh process keeping 100,000 small events in a
    ``memory://`` store (1,000 appends of 100); target under 100 MB.

Contenders alternate within every repeat and each keeps its best repeat, so
noise on the machine hits them alike; the ratios matter, not the rates. The
exit code is 0 whatever the results; each target prints PASS or FAIL.

PostgreSQL rows come from ``benchmarks/_store_postgres.py`` (its ``run(quick)``
returns the rows) when that module is present.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from eventflux import EventStore, NewEvent, open_store, uuid7
from eventflux.store.sqlite.schema import prepare_file

HERE = Path(__file__).resolve().parent
BATCH = 100
TASKS = 64
ES_THREADS = 8

Row = dict[str, Any]


def row(
    name: str, ours: float, peer: float, peer_name: str, target: float | None, unit: str
) -> Row:
    ratio = ours / peer if peer else float("inf")
    return {
        "name": name,
        "eventflux": ours,
        "peer": peer,
        "peer_name": peer_name,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "pass": None if target is None else ratio >= target,
    }


# -- eventsourcing ----------------------------------------------------------------------
class Account(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount: int) -> None:
        self.balance -= amount


def es_app(path: Path) -> Application:
    return Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )


def es_batched(app: Application, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        account = Account()  # the first of its 100 events
        for j in range(BATCH - 1):
            account.deposit(j)
        app.save(account)
    return calls * BATCH / (time.perf_counter() - start)


def es_one_per_save(app: Application, count: int, threads: int) -> float:
    def work(n: int) -> None:
        for _ in range(n):
            app.save(Account())

    start = time.perf_counter()
    if threads == 1:
        work(count)
    else:
        pool = [threading.Thread(target=work, args=(count // threads,)) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        count = count // threads * threads
    return count / (time.perf_counter() - start)


def es_read_all(app: Application) -> float:
    recorder: Any = app.recorder
    to_event = app.mapper.to_domain_event
    start = time.perf_counter()
    n = 0
    position = 1
    while True:
        page = recorder.select_notifications(position, 500)
        if not page:
            break
        for notification in page:
            to_event(notification)
        n += len(page)
        position = page[-1].id + 1
    return n / (time.perf_counter() - start)


def es_fill_streams(app: Application, count: int) -> list[uuid.UUID]:
    ids = []
    for i in range(count):
        account = Account()
        for j in range(9):
            if j % 3 == 2:
                account.withdraw(1)
            else:
                account.deposit(i + j)
        app.save(account)
        ids.append(account.id)
    return ids


def es_rebuild(app: Application, ids: list[uuid.UUID]) -> float:
    start = time.perf_counter()
    for i in ids:
        app.repository.get(i)
    return len(ids) / (time.perf_counter() - start)


# -- raw sqlite3 ------------------------------------------------------------------------
def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """A raw connection set up like the store's (autocommit, statement cache)."""
    return sqlite3.connect(
        path,
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
    )


_RAW_INSERT = (
    "INSERT INTO eventflux_events "
    "(id, stream, version, type, data, metadata, schema_version, recorded_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_RAW_SELECT = (
    "SELECT position, id, stream, version, type, data, metadata, schema_version, recorded_at "
    "FROM eventflux_events ORDER BY position"
)


def raw_batched(conn: Any, calls: int, tag: str) -> float:
    dumps = orjson.dumps
    start = time.perf_counter()
    for i in range(calls):
        stream = f"raw-{tag}-{i}"
        payloads = [{"amount": j, "call": i} for j in range(BATCH)]
        now = time.time_ns() // 1000
        rows = [
            (uuid7().bytes, stream, v, "Deposited", dumps(p), b"", 1, now)
            for v, p in enumerate(payloads, start=1)
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_RAW_INSERT, rows)
        conn.execute("COMMIT")
    return calls * BATCH / (time.perf_counter() - start)


def raw_read_all(path: Path) -> float:
    loads = orjson.loads
    conn = connect(str(path), 5.0)
    try:
        start = time.perf_counter()
        n = 0
        for position, raw_id, stream, version, type_name, data, meta, schema, at in conn.execute(
            _RAW_SELECT
        ):
            decoded = (
                position,
                raw_id,
                stream,
                version,
                type_name,
                loads(data),
                loads(meta) if meta else {},
                schema,
                at,
            )
            n += 1
        del decoded
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


# -- eventflux --------------------------------------------------------------------------
async def ef_batched(store: EventStore, calls: int, tag: str) -> float:
    start = time.perf_counter()
    for i in range(calls):
        events = [NewEvent("Deposited", {"amount": j, "call": i}) for j in range(BATCH)]
        await store.append(f"ef-{tag}-{i}", events, expected_version=0)
    return calls * BATCH / (time.perf_counter() - start)


async def ef_concurrent(store: EventStore, per_task: int, tag: str) -> float:
    async def task(t: int) -> None:
        for i in range(per_task):
            await store.append(f"c-{tag}-{t}", [NewEvent("Deposited", {"amount": i})], i)

    start = time.perf_counter()
    await asyncio.gather(*(task(t) for t in range(TASKS)))
    return TASKS * per_task / (time.perf_counter() - start)


async def ef_read_all(store: EventStore) -> float:
    start = time.perf_counter()
    n = 0
    async for _ in store.read_all():
        n += 1
    return n / (time.perf_counter() - start)


async def ef_fill(store: EventStore, count: int, per_call: int = 1000) -> None:
    for start in range(0, count, per_call):
        n = min(per_call, count - start)
        await store.append(
            f"fill-{start // 100_000}",
            [NewEvent("Deposited", {"amount": i, "note": "filler"}) for i in range(n)],
        )


async def ef_fill_streams(store: EventStore, count: int) -> list[str]:
    names = []
    for i in range(count):
        name = f"account-{i}"
        events = [NewEvent("Opened", {})] + [
            NewEvent("Withdrawn", {"amount": 1})
            if j % 3 == 2
            else NewEvent("Deposited", {"amount": i + j})
            for j in range(9)
        ]
        await store.append(name, events, expected_version=0)
        names.append(name)
    return names


async def ef_rebuild(store: EventStore, names: list[str]) -> float:
    start = time.perf_counter()
    for name in names:
        balance = 0
        async for e in store.read(name):
            if e.type == "Deposited":
                balance += e.data["amount"]
            elif e.type == "Withdrawn":
                balance -= e.data["amount"]
    return len(names) / (time.perf_counter() - start)


# -- memory of a 1M-event read_all, in a fresh process -----------------------------------
def _rss_now_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def _memory_child(url: str) -> None:
    async with await open_store(url) as store:
        it = store.read_all()
        await anext(it)  # connections open, first page decoded
        before, peak_before = _rss_now_mb(), _rss_peak_mb()
        highest = before
        n = 1
        async for _ in it:
            n += 1
            if n % 10_000 == 0:
                highest = max(highest, _rss_now_mb())
        growth = max(highest - before, _rss_peak_mb() - peak_before)
        print(orjson.dumps({"events": n, "growth_mb": growth, "rss_mb": highest}).decode())


def memory_growth(folder: Path, count: int) -> tuple[int, float]:
    url = f"sqlite:///{folder}/million.db?durability=normal"

    async def fill() -> None:
        async with await open_store(url) as store:
            await ef_fill(store, count)

    asyncio.run(fill())
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = orjson.loads(out.strip().splitlines()[-1])
    return int(result["events"]), float(result["growth_mb"])


async def _memory_store_child(count: int) -> None:
    """Keep ``count`` small events in a memory:// store; print the RSS growth."""
    import gc

    async with await open_store("memory://") as store:
        gc.collect()
        before = _rss_now_mb()
        for i in range(count // 100):
            await store.append(
                f"sensor-{i % 100}",
                [NewEvent("Measured", {"n": i * 100 + k, "c": 21.5}) for k in range(100)],
            )
        gc.collect()
        print(orjson.dumps({"events": count, "growth_mb": _rss_now_mb() - before}).decode())


def memory_store_growth(count: int) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-store-child", str(count)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = orjson.loads(out.strip().splitlines()[-1])
    return int(result["events"]), float(result["growth_mb"])


# -- the SQLite run ---------------------------------------------------------------------
def run_sqlite(quick: bool) -> list[Row]:
    calls, repeats, per_task, es_saves = (40, 2, 12, 600) if quick else (100, 5, 40, 1500)
    read_n, rebuild_n, million = (30_000, 300, 200_000) if quick else (100_000, 1000, 1_000_000)
    best: dict[str, list[float]] = {}

    def keep(key: str, value: float) -> None:
        best.setdefault(key, [0.0])
        best[key][0] = max(best[key][0], value)

    with tempfile.TemporaryDirectory(prefix="eventflux-bench-") as tmp:
        folder = Path(tmp)
        prepare_file(str(folder / "raw.db"), 5.0)
        raw = connect(str(folder / "raw.db"), 5.0)
        raw.execute("PRAGMA synchronous = FULL")
        app = es_app(folder / "es.db")
        read_app = es_app(folder / "es-read.db")
        try:

            async def take_turns(times: int, contenders: list[tuple[str, Any]]) -> None:
                """Run each contender ``times``, rotating who goes first; keep the best."""
                for r in range(times):
                    k = r % len(contenders)
                    for key, contender in contenders[k:] + contenders[:k]:
                        value = contender(r)
                        keep(key, await value if inspect.isawaitable(value) else value)

            async def measure() -> None:
                async with await open_store(f"sqlite:///{folder}/ef.db") as store:
                    await take_turns(
                        repeats,
                        [
                            ("a/ef", lambda r: ef_batched(store, calls, f"{r}")),
                            ("a/raw", lambda r: raw_batched(raw, calls, f"{r}")),
                            ("a/es", lambda r: es_batched(app, calls)),
                        ],
                    )
                    await take_turns(
                        repeats,
                        [
                            ("b/ef", lambda r: ef_concurrent(store, per_task, f"{r}")),
                            ("b/es", lambda r: es_one_per_save(app, es_saves, 1)),
                            ("b/es", lambda r: es_one_per_save(app, es_saves, ES_THREADS)),
                        ],
                    )
                async with await open_store(f"sqlite:///{folder}/ef-read.db") as store:
                    await ef_fill(store, read_n)
                    es_batched(read_app, read_n // BATCH)
                    await take_turns(
                        repeats + 2,  # reads are short: more turns, less noise
                        [
                            ("c/ef", lambda r: ef_read_all(store)),
                            ("c/raw", lambda r: raw_read_all(folder / "ef-read.db")),
                            ("c/es", lambda r: es_read_all(read_app)),
                        ],
                    )
                    names = await ef_fill_streams(store, rebuild_n)
                    ids = es_fill_streams(read_app, rebuild_n)
                    await take_turns(
                        repeats,
                        [
                            ("d/ef", lambda r: ef_rebuild(store, names)),
                            ("d/es", lambda r: es_rebuild(read_app, ids)),
                        ],
                    )

            asyncio.run(measure())
        finally:
            raw.close()
            app.close()
            read_app.close()
        events, growth = memory_growth(folder, million)
    kept, kept_growth = memory_store_growth(100_000)

    b = {k: v[0] for k, v in best.items()}
    es_name = "eventsourcing"
    return [
        row(
            "SQLite (a) batched appends, 100/call",
            b["a/ef"],
            b["a/raw"],
            "raw executemany",
            0.6,
            "events/s",
        ),
        row(
            "SQLite (a) batched appends, 100/call",
            b["a/ef"],
            b["a/es"],
            f"{es_name} save",
            3.0,
            "events/s",
        ),
        row(
            "SQLite (b) 64 concurrent appenders",
            b["b/ef"],
            b["b/es"],
            f"{es_name} save per aggregate",
            2.0,
            "events/s",
        ),
        row("SQLite (c) read_all", b["c/ef"], b["c/raw"], "raw read + orjson", 0.5, "events/s"),
        row(
            "SQLite (c) read_all", b["c/ef"], b["c/es"], f"{es_name} notifications", 8.0, "events/s"
        ),
        row(
            "SQLite (a) context: raw executemany",
            b["a/raw"],
            b["a/es"],
            f"{es_name} save",
            None,
            "events/s",
        ),
        row(
            "SQLite (c) context: raw read + orjson",
            b["c/raw"],
            b["c/es"],
            f"{es_name} notifications",
            None,
            "events/s",
        ),
        row(
            "SQLite (d) rebuild 10-event streams",
            b["d/ef"],
            b["d/es"],
            f"{es_name} repository.get",
            None,
            "streams/s",
        ),
        {
            "name": f"SQLite (e) read_all of {events:,} events: peak RSS growth",
            "eventflux": growth,
            "peer": 100.0,
            "peer_name": "limit",
            "unit": "MB",
            "ratio": growth / 100.0,
            "target": None,
            "pass": growth < 100.0,
            "limit": True,
        },
        {
            "name": f"memory:// (f) {kept:,} small events kept: RSS growth",
            "eventflux": kept_growth,
            "peer": 100.0,
            "peer_name": "limit",
            "unit": "MB",
            "ratio": kept_growth / 100.0,
            "target": None,
            "pass": kept_growth < 100.0,
            "limit": True,
        },
    ]


def run_postgres(quick: bool) -> list[Row]:
    """Rows of benchmarks/_store_postgres.py (the PostgreSQL section), if present."""
    path = HERE / "_store_postgres.py"
    if not path.exists():
        print("(no benchmarks/_store_postgres.py: PostgreSQL skipped)")
        return []
    spec = importlib.util.spec_from_file_location("_store_postgres", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runner: Callable[[bool], list[Row]] = module.run
    rows = runner(quick)
    for r in rows:
        r.setdefault("peer_name", "eventsourcing")
        r.setdefault("unit", "events/s")
    return rows


def print_rows(rows: list[Row]) -> None:
    print("| benchmark | eventflux | compared with | its rate | ratio | target | result |")
    print("|---|---:|---|---:|---:|---:|---|")
    for r in rows:
        if r.get("limit"):
            verdict = "PASS" if r["pass"] else "FAIL"
            print(
                f"| {r['name']} | {r['eventflux']:,.1f} MB | limit | 100 MB | | < 100 MB | {verdict} |"
            )
            continue
        target = "" if r["target"] is None else f">= {r['target']}x"
        verdict = "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        unit = r["unit"]
        print(
            f"| {r['name']} | {r['eventflux']:,.0f} {unit} | {r['peer_name']} | "
            f"{r['peer']:,.0f} {unit} | {r['ratio']:.2f}x | {target} | {verdict} |"
        )
    print()
    for r in rows:
        if r["pass"] is None:
            continue
        verdict = "PASS" if r["pass"] else "FAIL"
        if r.get("limit"):
            print(f"{verdict}  {r['name']}: {r['eventflux']:.1f} MB (target < 100 MB)")
        else:
            print(
                f"{verdict}  {r['name']} vs {r['peer_name']}: {r['ratio']:.2f}x "
                f"(target >= {r['target']}x)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (noisier)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="sqlite")
    parser.add_argument("--memory-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--memory-store-child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.memory_child:
        asyncio.run(_memory_child(options.memory_child))
        return 0
    if options.memory_store_child:
        asyncio.run(_memory_store_child(options.memory_store_child))
        return 0
    started = time.perf_counter()
    rows: list[Row] = []
    if options.backend in ("sqlite", "all"):
        rows += run_sqlite(options.quick)
    if options.backend in ("postgres", "all"):
        rows += run_postgres(options.quick)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {time.perf_counter() - started:.0f} s"
    )
    print()
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
