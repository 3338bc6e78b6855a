"""Sagas: workflows completed per second against the same workflow written
by hand as chained consumers, and the cost of scheduling many deadlines.

Run: .venv/bin/python benchmarks/sagas.py [--quick] [--no-servers]

1. A three-step workflow with no-op services: a ``WfStarted`` event starts
   it; each step is a command whose handler appends ``StepDone``; after the
   third the workflow is complete. Two contenders on the same store and bus,
   one App in one process, N workflows started at once, the clock stops when
   the last one completes:

   - saga: ``@starts("WfStarted")`` sends ``Step(1)``, ``@handles("StepDone")``
     sends the next step or finishes; state, sends and the step's deadline
     bookkeeping commit with each reaction;
   - chain: the same without a saga, as one would write it by hand: a relay
     publishes the workflow's events to the bus, a subscriber on
     ``wf.WfStarted`` dispatches ``Step(1)``, one on ``wf.StepDone`` the next
     step or appends ``WfCompleted``. It keeps no state of its own and has no
     deadlines, retries of a step's reaction or compensations.

   On SQLite files (``durability=full``) and on PostgreSQL + NATS JetStream
   (servers started here, as the tests start them). Target: the saga at
   least 0.5x the chain's workflows per second.

2. Deadline scheduling: 10,000 saga instances each set one deadline, all
   pending at once, due over 20 s; each timeout records when it ran. The
   fire-time error is the time the timeout's reaction started minus the due
   time. Target on SQLite: p99 under 100 ms.

Contenders alternate within every repeat and each keeps its best. The exit
code is 0 whatever the results; each target prints PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT / "src", ROOT):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from eventflux import App, Context, Message, NewEvent, RecordedEvent  # noqa: E402
from eventflux.bus import MessageBus, open_bus  # noqa: E402
from eventflux.sagas import Saga, handles, starts, timeout  # noqa: E402
from eventflux.store import EventStore, open_store  # noqa: E402

RATIO_TARGET = 0.5
P99_TARGET_MS = 100.0
STEPS = 3


@dataclass(frozen=True)
class Step:
    wf: str
    n: int


def wf_of(e: RecordedEvent) -> str:
    return str(e.data["wf"])


class ThreeSteps(Saga):
    @starts("WfStarted", key=wf_of)
    async def started(self, e: RecordedEvent) -> None:
        self.state["step"] = 1
        self.send(Step(self.key, 1))

    @handles("StepDone", key=wf_of)
    async def done(self, e: RecordedEvent) -> None:
        n = int(e.data["n"])
        if n < STEPS:
            self.state["step"] = n + 1
            self.send(Step(self.key, n + 1))
        else:
            self.finish("done")


async def _step(cmd: Step, ctx: Context) -> None:
    event = NewEvent(
        "StepDone",
        {"wf": cmd.wf, "n": cmd.n},
        id=uuid.uuid5(uuid.NAMESPACE_URL, str(ctx.causation_id)),
    )
    await ctx.store.append(f"wf-{cmd.wf}", [event])


def saga_app() -> App:
    app = App("bench-saga")
    app.command(Step)(_step)
    app.saga(ThreeSteps)
    return app


def chain_app() -> App:
    app = App("bench-chain")
    app.command(Step)(_step)
    app.relay(stream_prefix="wf-", subject="wf.{type}")

    @app.subscribe("wf.WfStarted", group="chain-start")
    async def begin(msg: Message, ctx: Context) -> None:
        await ctx.dispatch(Step(msg.data["wf"], 1))

    @app.subscribe("wf.StepDone", group="chain-next")
    async def next_step(msg: Message, ctx: Context) -> None:
        wf, n = msg.data["wf"], int(msg.data["n"])
        if n < STEPS:
            await ctx.dispatch(Step(wf, n + 1))
        else:
            await ctx.store.append(f"wf-{wf}", [NewEvent("WfCompleted", {"wf": wf})])

    return app


async def _count(store: EventStore, kind: str, after: int) -> tuple[int, int]:
    n = 0
    async for e in store.read_all(after=after, types=[kind]):
        n += 1
        after = e.position
    return n, after


async def run_workflows(app: App, store: EventStore, bus: MessageBus, n: int, done: str) -> float:
    """Start ``n`` workflows at once; seconds until the last one completed."""
    async with app.running(store=store, bus=bus):
        await bus.ready()
        head = await store.last_position()
        run = uuid.uuid4().hex[:6]
        started = time.perf_counter()
        await asyncio.gather(
            *(
                store.append(f"wf-{run}-{i}", [NewEvent("WfStarted", {"wf": f"{run}-{i}"})])
                for i in range(n)
            )
        )
        finished, after = 0, head
        while finished < n:
            more, after = await _count(store, done, after)
            finished += more
            if finished < n:
                await asyncio.sleep(0.005)
        return time.perf_counter() - started


@dataclass
class Backend:
    name: str
    store: str
    bus: str


async def compare(backend: Backend, n: int, repeats: int) -> tuple[float, float]:
    """Best workflows/s of the saga and of the chain on one backend."""
    best = {"saga": 0.0, "chain": 0.0}
    for r in range(repeats):
        order = ["saga", "chain"] if r % 2 == 0 else ["chain", "saga"]
        for who in order:
            suffix = uuid.uuid4().hex[:8]
            store = await open_store(backend.store.format(suffix=suffix, who=who))
            bus = await open_bus(backend.bus.format(suffix=suffix, who=who))
            try:
                app, done = (
                    (saga_app(), "SagaFinished") if who == "saga" else (chain_app(), "WfCompleted")
                )
                seconds = await run_workflows(app, store, bus, n, done)
            finally:
                await bus.close()
                await store.close()
            best[who] = max(best[who], n / seconds)
    return best["saga"], best["chain"]


# -- deadlines ---------------------------------------------------------------------------
class Timer(Saga):
    """Sets one deadline at an absolute time; its timeout records the error."""

    @starts("TimerSet", key=wf_of)
    async def set_timer(self, e: RecordedEvent) -> None:
        due = datetime.fromisoformat(e.data["due"])
        self.state["due"] = due.isoformat()
        self.deadline(due, "ring")

    @timeout("ring")
    async def ring(self) -> None:
        late = (self.now - datetime.fromisoformat(self.state["due"])).total_seconds()
        self.finish("rang")
        self.state["late_ms"] = late * 1000


async def deadlines(
    folder: Path, count: int, spread: float, durability: str = "full"
) -> dict[str, float]:
    store = await open_store(f"sqlite:///{folder}/timers.db?durability={durability}")
    bus = await open_bus(f"sqlite:///{folder}/timers-bus.db?durability={durability}")
    app = App("bench-timers")
    app.saga(Timer)
    setup = max(15.0, count / 300)  # time to create the instances before the first is due
    first = datetime.now(UTC) + timedelta(seconds=setup)
    try:
        async with app.running(store=store, bus=bus):
            await bus.ready()
            made = time.perf_counter()
            for i in range(0, count, 500):
                await asyncio.gather(
                    *(
                        store.append(
                            f"timer-{j}",
                            [
                                NewEvent(
                                    "TimerSet",
                                    {
                                        "wf": f"t{j}",
                                        "due": (
                                            first + timedelta(seconds=spread * j / count)
                                        ).isoformat(),
                                    },
                                )
                            ],
                        )
                        for j in range(i, min(count, i + 500))
                    )
                )
            feeder = app.sagas.feeder(Timer)
            while True:  # every deadline in the scheduler's index
                if feeder.index.pending >= count:
                    break
                await asyncio.sleep(0.01)
            ready_s = time.perf_counter() - made
            margin = (first - datetime.now(UTC)).total_seconds()
            rang, after = 0, 0
            while rang < count:
                more, after = await _count(store, "SagaFinished", after)
                rang += more
                await asyncio.sleep(0.2)
            late = [
                float(e.data["state"]["late_ms"])
                async for e in store.read_all(types=["SagaFinished"])
            ]
    finally:
        await bus.close()
        await store.close()
    late.sort()
    return {
        "pending": float(count),
        "ready_s": ready_s,
        "margin_s": margin,
        "p50": late[len(late) // 2],
        "p99": late[min(len(late) - 1, int(len(late) * 0.99))],
        "max": late[-1],
        "min": late[0],
    }


async def main_async(quick: bool, servers: bool) -> None:
    n = 200 if quick else 500
    repeats = 2 if quick else 3
    count = 2_000 if quick else 10_000
    spread = 5.0 if quick else 20.0
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="eventflux-bench-sagas-") as tmp:
        folder = Path(tmp)
        gc.collect()  # the deadlines run first, on a fresh heap
        d = await deadlines(folder, count, spread)
        sqlite = Backend(
            "SQLite (durability=full)",
            f"sqlite:///{folder}/{{who}}-{{suffix}}.db",
            f"sqlite:///{folder}/{{who}}-{{suffix}}-bus.db",
        )
        rows.append((sqlite.name, *await compare(sqlite, n, repeats)))
        if servers:
            async with AsyncExitStack() as stack:
                from tests.servers.nats import NatsServer
                from tests.servers.postgres import PostgresServer

                pg = stack.enter_context(PostgresServer(fsync=True))
                nats = stack.enter_context(NatsServer())
                remote = Backend(
                    "PostgreSQL + NATS",
                    pg.url() + "?schema=b_{who}_{suffix}",
                    nats.url + "?stream=B{who}{suffix}",
                )
                rows.append((remote.name, *await compare(remote, n // 2, repeats)))
    print(
        f"\n{STEPS}-step workflow, no-op services, {n} workflows started at once "
        f"(PostgreSQL + NATS: {n // 2}), best of {repeats}\n"
    )
    print("| backend | saga workflows/s | chain workflows/s | saga / chain |")
    print("|---|---:|---:|---:|")
    for name, saga, chain in rows:
        print(f"| {name} | {saga:,.0f} | {chain:,.0f} | {saga / chain:.2f}x |")
    for name, saga, chain in rows:
        verdict = "PASS" if saga / chain >= RATIO_TARGET else "FAIL"
        print(f"target {name}: saga >= {RATIO_TARGET}x the chain: {saga / chain:.2f}x {verdict}")
    print(
        f"\n{count:,} deadlines pending at once on SQLite, due over {spread:g} s "
        f"({count / spread:,.0f}/s); set up in {d['ready_s']:.1f} s, "
        f"{d['margin_s']:.1f} s before the first was due\n"
    )
    print("| fire-time error | ms |")
    print("|---|---:|")
    for key in ("min", "p50", "p99", "max"):
        print(f"| {key} | {d[key]:.1f} |")
    verdict = "PASS" if d["p99"] < P99_TARGET_MS else "FAIL"
    print(f"target fire-time error p99 < {P99_TARGET_MS:g} ms: {d['p99']:.1f} ms {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument(
        "--no-servers", action="store_true", help="skip PostgreSQL + NATS (SQLite only)"
    )
    args = parser.parse_args(argv)
    logging.getLogger("eventflux").setLevel(logging.WARNING)
    asyncio.run(main_async(args.quick, not args.no_servers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
