"""Load runs of the hub: many devices talking at once, the engine keeping up.

:func:`telemetry_load` runs the hub App (recorder, projections, rules engine)
while ``devices`` simulated energy meters each publish ``rate`` readings a
second for ``seconds`` seconds on the bus, and samples the engine's lag
twice a second: readings published but not yet handled, and how old the
newest handled reading was. :func:`rule_throughput` measures the engine
alone: rule evaluations per second over a stream of stored device events.
:func:`trigger_latency` measures trigger-to-action latency through the bus.
``benchmarks/smarthome.py`` and the load test run them.

Example::

    report = await telemetry_load(devices=500, rate=10, seconds=60)
    print(report.max_lag, report.drain_seconds)
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ...bus import Message, OutgoingMessage, open_bus
from ...events import NewEvent
from ...store import open_store
from .app import engine_of, make_app
from .rules.engine import RulesEngine
from .rules.model import Automation
from .rules.parse import load_automations

__all__ = [
    "LoadReport",
    "bench_automations",
    "rule_throughput",
    "telemetry_load",
    "trigger_latency",
]


def bench_automations(count: int, *, prefix: str = "load") -> list[Automation]:
    """``count`` automations, one per device ``<prefix><i>``: a numeric trigger
    on its meter (fires on crossing 1000 W) and a state trigger on its motion
    sensor, each sending a command."""
    specs: list[dict[str, Any]] = []
    for i in range(count):
        room = f"{prefix}{i}"
        specs.append(
            {
                "id": f"{room}_rules",
                "mode": "parallel",
                "max": 100,
                "max_exceeded": "silent",
                "triggers": [
                    {"trigger": "numeric_state", "entity_id": f"{room}.meter", "above": 1000},
                    {"trigger": "state", "entity_id": f"{room}.motion", "to": "on", "id": "m"},
                ],
                "actions": [
                    {"action": "light.turn_on", "target": {"entity_id": f"{room}.light"}},
                ],
            }
        )
    return load_automations(specs)


@dataclass
class LoadReport:
    """What a load run saw."""

    devices: int
    rate: float
    seconds: float
    published: int = 0
    handled: int = 0
    #: readings published but not yet handled by the engine, at the worst sample
    max_lag: int = 0
    #: how old the newest handled reading was, at the worst sample (seconds)
    max_lag_seconds: float = 0.0
    #: from the last publish until the engine had handled every reading
    drain_seconds: float = 0.0
    runs: int = 0
    samples: list[tuple[float, int, float]] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0

    def lines(self) -> list[str]:
        return [
            f"{self.devices} devices x {self.rate:g} events/s for {self.seconds:g} s: "
            f"{self.published} readings published ({self.achieved_rate:,.0f}/s), "
            f"{self.handled} handled by the engine",
            f"engine lag: at most {self.max_lag} readings, {self.max_lag_seconds:.2f} s; "
            f"drained {self.drain_seconds:.2f} s after the last publish; {self.runs} runs",
        ]


async def telemetry_load(
    *,
    devices: int = 500,
    rate: float = 10.0,
    seconds: float = 60.0,
    store: str = "memory://",
    bus: str = "memory://",
    read_model: str | None = None,
    automations: int = 200,
    tick: float = 0.1,
    drain_timeout: float = 120.0,
    seed: int = 7,
) -> LoadReport:
    """Run the hub under ``devices`` x ``rate`` readings a second; report the lag."""
    rng = random.Random(seed)
    hub = make_app(
        store=store,
        bus=bus,
        read_model=read_model,
        automations=bench_automations(min(automations, devices)),
        offline_after=timedelta(hours=1),
        recorder_concurrency=512,
    )
    report = LoadReport(devices, rate, seconds)
    engine = engine_of(hub)
    watts = [900.0 + rng.uniform(-50, 50) for _ in range(devices)]
    per_tick = devices * rate * tick
    async with (
        await open_store(store) as s,
        await open_bus(bus) as b,
        hub.running(store=s, bus=b),
    ):
        session = await engine.wait_ready()
        start = time.perf_counter()
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                lag = report.published - session.processed
                newest = session.last_at
                age = 0.0 if newest is None else (datetime.now(UTC) - newest).total_seconds()
                age = age if lag > 0 else 0.0
                report.samples.append((time.perf_counter() - start, lag, age))
                report.max_lag = max(report.max_lag, lag)
                report.max_lag_seconds = max(report.max_lag_seconds, age)
                await asyncio.sleep(0.5)

        sampler = asyncio.get_running_loop().create_task(sample())
        owed = 0.0
        tick_no = 0
        while (elapsed := time.perf_counter() - start) < seconds:
            owed += per_tick
            batch = []
            now = datetime.now(UTC).isoformat()
            while owed >= 1:
                owed -= 1
                i = rng.randrange(devices)
                watts[i] = max(0.0, watts[i] + rng.uniform(-60, 60))
                batch.append(
                    OutgoingMessage(
                        f"home.load{i}.meter.power",
                        {"kind": "energy", "state": round(watts[i], 1), "at": now},
                        None,
                        f"load{i}.meter",
                        None,
                    )
                )
            if batch:
                await b.publish_many(batch)
                report.published += len(batch)
            tick_no += 1
            await asyncio.sleep(max(0.0, start + tick_no * tick - time.perf_counter()))
        del elapsed
        stopped = time.perf_counter()
        async with asyncio.timeout(drain_timeout):
            while session.processed < report.published:  # noqa: ASYNC110 - a counter
                await asyncio.sleep(0.01)
        report.drain_seconds = time.perf_counter() - stopped
        done.set()
        await sampler
        report.handled = session.processed
        report.runs = sum(state.runs for state in session.states.values())
    return report


async def rule_throughput(
    *, automations: int = 200, events: int = 100_000, store: str = "memory://"
) -> dict[str, float]:
    """Rule evaluations per second: ``events`` stored device events (meters and
    motion sensors of the rooms the automations watch), handled by an engine
    with ``automations`` automations from position zero."""
    rng = random.Random(3)
    async with await open_store(store) as s:
        batch: list[tuple[str, NewEvent]] = []
        at = datetime(2026, 1, 16, tzinfo=UTC)
        for n in range(events):
            i = rng.randrange(automations)
            if n % 20:  # meters mostly; a motion sensor now and then
                data = {"state": round(rng.uniform(800, 1200), 1), "kind": "energy"}
                entity, kind = f"load{i}.meter", "power"
            else:
                data = {"state": rng.choice(["on", "off"]), "kind": "motion"}
                entity, kind = f"load{i}.motion", "motion"
            room, _, device = entity.partition(".")
            data.update(
                subject=f"home.{room}.{device}.{kind}",
                entity_id=entity,
                at=(at + timedelta(milliseconds=n)).isoformat(),
            )
            batch.append((f"home-{entity}", NewEvent(f"home.{kind}", data)))
            if len(batch) == 1000:
                await _store_batch(s, batch)
                batch = []
        if batch:
            await _store_batch(s, batch)
        engine = RulesEngine(bench_automations(automations), offline_after=timedelta(days=9999))
        task = asyncio.get_running_loop().create_task(engine.run(s))
        session = await engine.wait_ready()
        start = time.perf_counter()
        while session.processed < events:  # noqa: ASYNC110 - a counter
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        runs = sum(state.runs for state in session.states.values())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {
        "events": events,
        "seconds": elapsed,
        "events_per_second": events / elapsed,
        "evaluations": session.evaluations,
        "evaluations_per_second": session.evaluations / elapsed,
        "naive_evaluations_per_second": events * automations / elapsed,
        "runs": runs,
    }


async def _store_batch(store: Any, batch: list[tuple[str, NewEvent]]) -> None:
    streams: dict[str, tuple[list[NewEvent], Any]] = {}
    from ...store import ANY

    for stream, event in batch:
        streams.setdefault(stream, ([], ANY))[0].append(event)
    await store.append_many(streams)


async def trigger_latency(
    *,
    automations: int = 200,
    triggers: int = 1000,
    rate: float = 100.0,
    store: str = "memory://",
    bus: str = "memory://",
    read_model: str | None = None,
) -> dict[str, float]:
    """Trigger-to-action latency through the bus: a motion message published,
    recorded, handled by the engine, its command relayed and delivered to a
    device's subscriber. Returns p50/p99 in milliseconds."""
    hub = make_app(
        store=store,
        bus=bus,
        read_model=read_model,
        automations=bench_automations(automations),
        offline_after=timedelta(hours=1),
    )
    sent: dict[str, float] = {}
    latencies: list[float] = []
    got = asyncio.Event()
    async with await open_store(store) as s, await open_bus(bus) as b:

        async def on_command(msg: Message) -> None:
            room = msg.subject.split(".")[1]
            began = sent.pop(room, None)
            if began is not None:
                latencies.append((time.perf_counter() - began) * 1000)
                if len(latencies) >= triggers:
                    got.set()

        b.subscribe("home.*.light.command", on_command, group="bench-devices", concurrency=256)
        async with hub.running(store=s, bus=b):
            await engine_of(hub).wait_ready()
            rooms = [f"load{i}" for i in range(automations)]
            for room in rooms:  # a first reading: the next "on" is a change
                await b.publish(f"home.{room}.motion.motion", {"kind": "motion", "state": "off"})
            await asyncio.sleep(0.5)
            state = dict.fromkeys(rooms, "off")
            n = 0
            while n < triggers:
                room = rooms[n % len(rooms)]
                if room in sent:
                    await asyncio.sleep(0.001)
                    continue
                for value in ("off", "on") if state[room] == "on" else ("on",):
                    if value == "on":
                        sent[room] = time.perf_counter()
                    await b.publish(
                        f"home.{room}.motion.motion",
                        {"kind": "motion", "state": value},
                        key=f"{room}.motion",
                    )
                state[room] = "on"
                n += 1
                await asyncio.sleep(1 / rate)
            async with asyncio.timeout(120):
                await got.wait()
    latencies.sort()
    return {
        "triggers": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1],
    }
