"""The HTTP server side by side with the same store called in-process.

Run: .venv/bin/python benchmarks/server.py [--quick]

(a) appends, events/s: single-event appends from 64 concurrent clients.
    In-process: 64 asyncio tasks calling ``store.append`` on a SQLite store
    (``durability=full``). HTTP: ``eventflux serve`` on its own SQLite files
    in a temp folder, and 64 keep-alive HTTP/1.1 connections from a separate
    client process, each posting one event per request
    (``POST /api/streams/{stream}``, a 201 checked for each). Target: HTTP at
    least 0.3x of in-process.
(b) SSE fan-out: 100 subscribers on ``GET /api/subscribe`` (one process,
    raw sockets) while events are appended over HTTP. Paced: 100 events/s,
    end-to-end latency from the writer's send to each subscriber's receipt,
    p50/p99. Burst: 16 writers as fast as they go, events delivered per
    second across all subscribers (every subscriber must get every event).

The client is a small raw-socket HTTP client, so its own cost stays far below
the server's (both share the machine's cores). Each side keeps its best of
the repeats. The exit code is 0 whatever the results; the target prints PASS
or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from eventflux import NewEvent, open_store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers._shared import free_port  # noqa: E402

EVENTFLUX = str(Path(sys.executable).with_name("eventflux"))


def loop_runner() -> asyncio.Runner:
    """The loop the server uses too (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


# -- in-process ------------------------------------------------------------------
async def inprocess_appends(folder: Path, total: int, clients: int) -> float:
    async with await open_store(f"sqlite:///{folder}/inprocess-{time.monotonic_ns()}.db") as store:

        async def client(c: int) -> None:
            for i in range(total // clients):
                await store.append(f"bench-{c}", [NewEvent("Benched", {"i": i, "c": c})])

        start = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        return (total // clients * clients) / (time.perf_counter() - start)


# -- a raw HTTP/1.1 client --------------------------------------------------------
class Connection:
    """One keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self.port, len(body), body)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def http_appends(port: int, total: int, clients: int) -> float:
    conns = [await Connection(port).open() for _ in range(clients)]
    run = time.monotonic_ns()

    async def client(c: int, conn: Connection) -> None:
        path = f"/api/streams/http-{run}-{c}"
        for i in range(total // clients):
            body = b'{"events":[{"type":"Benched","data":{"i":%d,"c":%d}}]}' % (i, c)
            status, answer = await conn.post(path, body)
            if status != 201:
                raise RuntimeError(f"append answered {status}: {answer[:200]!r}")

    start = time.perf_counter()
    await asyncio.gather(*(client(c, conn) for c, conn in enumerate(conns)))
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    return (total // clients * clients) / elapsed


class Subscriber:
    """One SSE connection counting events and their latency."""

    def __init__(self, port: int, after: int, expected: int) -> None:
        self.port, self.after, self.expected = port, after, expected
        self.latencies: list[float] = []
        self.received = 0
        self.done = asyncio.Event()
        self.ready = asyncio.Event()

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(
            b"GET /api/subscribe?after=%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
            % (self.after, self.port)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head[:13]:
            raise RuntimeError(f"subscribe answered {head[:40]!r}")
        self.ready.set()
        try:
            while self.received < self.expected:
                line = await reader.readline()
                if not line:
                    raise RuntimeError("the server ended the stream")
                if line.startswith(b"data: "):
                    now = time.time()
                    sent = json.loads(line[6:])["data"]["t"]
                    self.latencies.append(now - sent)
                    self.received += 1
        finally:
            writer.close()
            self.done.set()


async def fan_out(
    port: int, subscribers: int, events: int, writers: int, pace: float | None
) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        after = (await client.get("/api/all?after=0&limit=1")).json()["last_position"] or 0
        while True:  # the end of the log, to start the feeds there
            page = (await client.get(f"/api/all?after={after}&limit=10000")).json()
            if page["last_position"] is None:
                break
            after = page["last_position"]
    subs = [Subscriber(port, after, events) for _ in range(subscribers)]
    tasks = [asyncio.ensure_future(s.run()) for s in subs]
    await asyncio.gather(*(s.ready.wait() for s in subs))
    conns = [await Connection(port).open() for _ in range(writers)]

    async def writer(w: int, conn: Connection) -> None:
        for i in range(events // writers):
            body = b'{"events":[{"type":"Tick","data":{"t":%r,"i":%d}}]}' % (time.time(), i)
            status, answer = await conn.post(f"/api/streams/fan-{w}", body)
            if status != 201:
                raise RuntimeError(f"append answered {status}: {answer[:200]!r}")
            if pace is not None:
                await asyncio.sleep(writers / pace)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w, c) for w, c in enumerate(conns)))
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    latencies = sorted(x for s in subs for x in s.latencies)
    return {
        "delivered_per_second": sum(s.received for s in subs) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "events": float(events),
    }


def client_main(args: argparse.Namespace) -> None:
    """The client process: runs one measurement and prints it as JSON."""
    with loop_runner() as runner:
        if args.client == "appends":
            rate = runner.run(http_appends(args.port, args.n, args.clients))
            print(json.dumps({"rate": rate}))
        else:
            pace = None if args.pace == 0 else args.pace
            result = runner.run(fan_out(args.port, args.subscribers, args.n, args.writers, pace))
            print(json.dumps(result))


def client(port: int, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", *args, "--port", str(port)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[int]:
    port = free_port()
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            EVENTFLUX,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--store",
            f"sqlite:///{folder}/store.db",
            "--bus",
            f"sqlite:///{folder}/bus.db",
        ],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError((folder / "serve.log").read_text())
        yield port
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--client", choices=["appends", "fanout"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--pace", type=float, default=0)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    appends = 6_400 if args.quick else 25_600
    repeats = 2 if args.quick else 3
    paced = 300 if args.quick else 1_000
    burst = 1_600 if args.quick else 4_800
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inproc: list[float] = []
        http: list[float] = []
        with serve(folder) as port:
            for _ in range(repeats):  # alternate, so noise hits both alike
                with loop_runner() as runner:
                    inproc.append(runner.run(inprocess_appends(folder, appends, 64)))
                http.append(client(port, "appends", "--n", str(appends), "--clients", "64")["rate"])
            slow = client(
                port, "fanout", "--n", str(paced), "--writers", "1", "--pace", "100",
                "--subscribers", "100",
            )  # fmt: skip
            fast = client(
                port, "fanout", "--n", str(burst), "--writers", "16", "--subscribers", "100"
            )
    ratio = max(http) / max(inproc)
    print(f"server benchmark ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores")
    print()
    print("| benchmark | contender | result | x in-process |")
    print("|---|---|---:|---:|")
    print(
        f"| appends, 64 clients | in-process `store.append` | {max(inproc):,.0f} events/s | 1.00 |"
    )
    print(
        f"| appends, 64 clients | HTTP `POST /api/streams/{{s}}`, keep-alive "
        f"| {max(http):,.0f} events/s | {ratio:.2f} |"
    )
    print(
        f"| SSE fan-out, 100 subscribers, 100 events/s | latency p50 / p99 "
        f"| {slow['p50_ms']:.1f} / {slow['p99_ms']:.1f} ms | |"
    )
    print(
        f"| SSE fan-out, 100 subscribers, 16 writers | events delivered "
        f"| {fast['delivered_per_second']:,.0f} events/s | |"
    )
    print(
        f"| SSE fan-out, 100 subscribers, 16 writers | latency p50 / p99 "
        f"| {fast['p50_ms']:.1f} / {fast['p99_ms']:.1f} ms | |"
    )
    print()
    verdict = "PASS" if ratio >= 0.3 else "FAIL"
    print(f"target: HTTP appends >= 0.3x in-process with 64 clients: {ratio:.2f}x {verdict}")


if __name__ == "__main__":
    main()
