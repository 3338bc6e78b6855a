"""The NATS JetStream bus side by side with raw nats-py and FastStream, on one server.

Run: .venv/bin/python benchmarks/_bus_nats.py [--quick]

The script starts its own nats-server (JetStream, a temporary store, 127.0.0.1)
and measures, with every contender on its own fresh stream of the same server:

* publish with acks: raw ``js.publish_async`` (1000 in flight, then awaited),
  eventflux ``publish_many`` (batches of 500) and ``publish`` (1000 concurrent
  calls), FastStream ``broker.publish`` (1000 concurrent calls);
* consume with acks, from a stream filled beforehand: a raw pull consumer
  fetching batches of 256 and acking each message, an eventflux subscriber
  (``concurrency=256``, and the default 16), a FastStream pull subscriber
  (batches of 256, ack after the handler);
* end-to-end latency from ``publish`` to the handler in another process,
  eventflux on both ends, one message every 2 ms (p50 and p99).

Contenders alternate within each repeat and the best repeat counts, so noise
on the machine hits them alike. ``run(quick)`` returns the rows as dicts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import nats  # noqa: E402
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig  # noqa: E402
from tests.servers.nats import NatsServer  # noqa: E402

from eventflux.bus import Message, open_bus  # noqa: E402

PAYLOAD: dict[str, Any] = {"id": 1, "amount": 100, "customer": "c-7"}
RAW_PAYLOAD = json.dumps(PAYLOAD).encode()
WINDOW = 1000


def _name(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10]


# -- publish ------------------------------------------------------------------------------
async def raw_publish(url: str, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = _name("RAWP")
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    start = time.perf_counter()
    for i in range(0, n, WINDOW):
        futures = [
            await js.publish_async(f"{stream}.x", RAW_PAYLOAD) for _ in range(min(WINDOW, n - i))
        ]
        await asyncio.gather(*futures)
    elapsed = time.perf_counter() - start
    await js.delete_stream(stream)
    await nc.close()
    return n / elapsed


async def eventflux_publish(url: str, n: int, *, batch: bool) -> float:
    stream = _name("EFP")
    bus = await open_bus(f"{url}?stream={stream}&retention=limits")
    try:
        start = time.perf_counter()
        for i in range(0, n, 500 if batch else WINDOW):
            if batch:
                await bus.publish_many([("orders.created", PAYLOAD)] * min(500, n - i))
            else:
                count = min(WINDOW, n - i)
                await asyncio.gather(
                    *(bus.publish("orders.created", PAYLOAD) for _ in range(count))
                )
        elapsed = time.perf_counter() - start
    finally:
        await bus.close()
    await _drop(url, stream)
    return n / elapsed


async def faststream_publish(url: str, n: int) -> float:
    from faststream.nats import NatsBroker

    nc = await nats.connect(url)
    stream = _name("FSP")
    await nc.jetstream().add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    broker = NatsBroker(url, logger=None)
    await broker.connect()
    start = time.perf_counter()
    for i in range(0, n, WINDOW):
        count = min(WINDOW, n - i)
        await asyncio.gather(
            *(broker.publish(PAYLOAD, f"{stream}.x", stream=stream) for _ in range(count))
        )
    elapsed = time.perf_counter() - start
    await broker.stop()
    await nc.jetstream().delete_stream(stream)
    await nc.close()
    return n / elapsed


# -- consume ------------------------------------------------------------------------------
async def _fill(js: Any, subject: str, n: int) -> None:
    for i in range(0, n, WINDOW):
        futures = [await js.publish_async(subject, RAW_PAYLOAD) for _ in range(min(WINDOW, n - i))]
        await asyncio.gather(*futures)


async def _drop(url: str, *streams: str) -> None:
    nc = await nats.connect(url)
    for stream in streams:
        for name in (stream, f"{stream}_META"):
            try:
                await nc.jetstream().delete_stream(name)
            except nats.js.errors.NotFoundError:
                pass
    await nc.close()


async def raw_consume(url: str, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = _name("RAWC")
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    await _fill(js, f"{stream}.x", n)
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=WINDOW * 10)
    sub = await js.pull_subscribe(f"{stream}.x", durable="raw", stream=stream, config=config)
    start = time.perf_counter()
    done = 0
    while done < n:
        for msg in await sub.fetch(256, timeout=5):
            await msg.ack()
            done += 1
    elapsed = time.perf_counter() - start
    await js.delete_stream(stream)
    await nc.close()
    return n / elapsed


async def eventflux_consume(url: str, n: int, concurrency: int) -> float:
    stream = _name("EFC")
    bus = await open_bus(f"{url}?stream={stream}")
    finished = asyncio.Event()
    count = 0

    async def handler(msg: Message) -> None:
        nonlocal count
        count += 1
        if count >= n:
            finished.set()

    try:
        bus.subscribe("orders.created", handler, group="bench", concurrency=concurrency)
        await bus.ready()
        await bus.unsubscribe(handler)  # the group exists and keeps what comes now
        for i in range(0, n, 500):
            await bus.publish_many([("orders.created", PAYLOAD)] * min(500, n - i))
        start = time.perf_counter()
        bus.subscribe("orders.created", handler, group="bench", concurrency=concurrency)
        await asyncio.wait_for(finished.wait(), 300)
        elapsed = time.perf_counter() - start
    finally:
        await bus.close()
    await _drop(url, stream)
    return n / elapsed


async def faststream_consume(url: str, n: int) -> float:
    from faststream.nats import JStream, NatsBroker, PullSub

    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = _name("FSC")
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream}.>"]))
    await _fill(js, f"{stream}.x", n)
    broker = NatsBroker(url, logger=None)
    finished = asyncio.Event()
    count = 0

    @broker.subscriber(
        f"{stream}.x",
        stream=JStream(stream, declare=False),
        durable="fs",
        deliver_policy=DeliverPolicy.ALL,
        pull_sub=PullSub(batch_size=256, timeout=1.0),
    )
    async def handle(body: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        if count >= n:
            finished.set()

    start = time.perf_counter()
    await broker.start()
    await asyncio.wait_for(finished.wait(), 300)
    elapsed = time.perf_counter() - start
    await broker.stop()
    await js.delete_stream(stream)
    await nc.close()
    return n / elapsed


# -- latency across processes -----------------------------------------------------------
async def latency_child(url: str, stream: str, n: int) -> None:
    """Run in the child process: handle ``n`` messages, print their latencies (ms)."""
    bus = await open_bus(f"{url}?stream={stream}")
    latencies: list[float] = []
    finished = asyncio.Event()

    async def handler(msg: Message) -> None:
        latencies.append((time.time() - msg.data["t"]) * 1000)
        if len(latencies) >= n:
            finished.set()

    bus.subscribe("lat", handler, group="latency")
    await bus.ready()
    print("ready", flush=True)
    await asyncio.wait_for(finished.wait(), 300)
    await bus.close()
    print(json.dumps(latencies), flush=True)


async def latency(url: str, n: int) -> tuple[float, float]:
    stream = _name("EFL")
    bus = await open_bus(f"{url}?stream={stream}")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--latency-child",
        url,
        stream,
        str(n),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line.strip() == b"ready", line
        for _ in range(n):
            await bus.publish("lat", {"t": time.time()})
            await asyncio.sleep(0.002)
        out = await asyncio.wait_for(child.stdout.readline(), 120)
        values = sorted(json.loads(out))
    finally:
        if child.returncode is None:
            await asyncio.wait_for(child.wait(), 60)
        await bus.close()
        await _drop(url, stream)
    p50 = statistics.median(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return p50, p99


# -- driver -----------------------------------------------------------------------------
async def _best(
    contenders: dict[str, Callable[[], Awaitable[float]]], repeats: int
) -> dict[str, float]:
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(repeats):
        for name, fn in contenders.items():
            best[name] = max(best[name], await fn())
    return best


async def _run(url: str, quick: bool) -> list[dict[str, Any]]:
    n = 4000 if quick else 20000
    repeats = 1 if quick else 3
    publish = await _best(
        {
            "raw nats-py publish_async": lambda: raw_publish(url, n),
            "eventflux publish_many (500/batch)": lambda: eventflux_publish(url, n, batch=True),
            "eventflux publish (1000 concurrent)": lambda: eventflux_publish(url, n, batch=False),
            "FastStream broker.publish (1000 concurrent)": lambda: faststream_publish(url, n),
        },
        repeats,
    )
    consume = await _best(
        {
            "raw nats-py pull fetch(256) + ack": lambda: raw_consume(url, n),
            "eventflux subscribe (concurrency=256)": lambda: eventflux_consume(url, n, 256),
            "eventflux subscribe (concurrency=16)": lambda: eventflux_consume(url, n, 16),
            "FastStream pull subscriber (batch 256)": lambda: faststream_consume(url, n),
        },
        repeats,
    )
    raw_pub = publish["raw nats-py publish_async"]
    raw_con = consume["raw nats-py pull fetch(256) + ack"]
    fs_con = consume["FastStream pull subscriber (batch 256)"]
    targets = {
        "eventflux publish_many (500/batch)": 0.8 * raw_pub,
        "eventflux subscribe (concurrency=256)": max(0.8 * raw_con, 2 * fs_con),
    }
    rows: list[dict[str, Any]] = []
    for name, rate in publish.items():
        rows.append(
            _row(
                "(nats) publish with acks",
                name,
                rate,
                "msg/s",
                targets.get(name),
                ratio=rate / raw_pub,
            )
        )
    for name, rate in consume.items():
        rows.append(
            _row(
                "(nats) consume with acks",
                name,
                rate,
                "msg/s",
                targets.get(name),
                ratio=rate / raw_con,
                vs_faststream=rate / fs_con,
            )
        )
    p50, p99 = await latency(url, 500 if quick else 2000)
    name = "(nats) latency publish -> handler, across processes"
    rows.append(_row(name, "eventflux nats p50", p50, "ms", None))
    rows.append(_row(name, "eventflux nats p99", p99, "ms", None))
    return rows


def _row(
    name: str, contender: str, rate: float, unit: str, target: float | None, **extra: float
) -> dict[str, Any]:
    """A row shaped like those of ``benchmarks/bus.py`` (plus ratios)."""
    return {
        "name": name,
        "contender": contender,
        "rate": rate,
        "unit": unit,
        "target": target,
        "pass": None if target is None else rate >= target,
        **extra,
    }


def run(quick: bool) -> list[dict[str, Any]]:
    """Start a NATS server, run every benchmark on it, return the rows."""
    with NatsServer(name="eventflux-bench") as server:
        return asyncio.run(_run(server.url, quick))


def print_rows(rows: list[dict[str, Any]]) -> None:
    """A Markdown table of the rows, then PASS/FAIL per target."""
    print("| benchmark | contender | result | x raw nats-py | x FastStream |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        value = f"{r['rate']:,.0f} msg/s" if r["unit"] != "ms" else f"{r['rate']:.2f} ms"
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
        fs = f"{r['vs_faststream']:.2f}" if "vs_faststream" in r else ""
        print(f"| {r['name']} | {r['contender']} | {value} | {ratio} | {fs} |")
    print()
    for r in rows:
        if r["pass"] is not None:
            verdict = "PASS" if r["pass"] else "FAIL"
            print(
                f"{verdict}  {r['contender']}: {r['rate']:,.0f} msg/s >= {r['target']:,.0f} "
                "(0.8x raw nats-py; on consume also 2x FastStream)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages, one repeat")
    parser.add_argument(
        "--latency-child", nargs=3, metavar=("URL", "STREAM", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.latency_child:
        url, stream, n = args.latency_child
        asyncio.run(latency_child(url, stream, int(n)))
        return
    print_rows(run(args.quick))


if __name__ == "__main__":
    main()
