"""The chat demo side by side with a minimal python-socketio chat server.

Run: .venv/bin/python benchmarks/chat.py [--clients 1000] [--messages 25]

One run, on 127.0.0.1 only. Both sides get 2 server processes, 10 rooms and
``--clients`` WebSocket clients (100 a room with the defaults), all in one
client process (uvloop), and the same load: in every room two senders post
``--messages`` messages each, one after the other, each waiting for its
acknowledgement; every member of the room (the sender too) receives every
message.

- eventflux: two ``eventflux serve eventflux.demos.chat:app`` processes on
  one SQLite store and bus; each room has half of its members on each
  process, so every message crosses processes through the store. Every
  message is an event in the store (durable history, resumable by version).
- python-socketio: two processes of ``benchmarks/_chat_socketio.py`` (rooms
  in memory, no history). Without a message queue (Redis, RabbitMQ) two
  socket.io processes share no rooms, so each room lives whole on one
  process (rooms 0, 2, 4... on the first): its best case, with no hop
  between processes.

Printed: delivered messages/s (deliveries to all members, from the first
send to the last receipt) and send-to-receive latency p50/p99 over every
delivery (the send time travels in the message; one clock, one process),
then the ratio. Target: eventflux at least 1.0x the peer's delivered rate.
The exit code is 0 whatever the result; the target prints PASS or FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers._shared import free_port  # noqa: E402

EVENTFLUX = str(Path(sys.executable).with_name("eventflux"))
ROOMS = 10
SERVERS = 2
SENDERS_PER_ROOM = 2


def loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


@dataclass
class Tally:
    """Deliveries seen by every client of one side."""

    expected: int
    latencies: list[float] = field(default_factory=list)
    first_send: float = 0.0
    last_receipt: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def delivered(self, text: str) -> None:
        now = time.perf_counter()
        self.latencies.append(now - float(text.split(" ", 1)[0]))
        self.last_receipt = now
        if len(self.latencies) >= self.expected:
            self.done.set()

    def result(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        return {
            "deliveries": len(lat),
            "rate": len(lat) / (self.last_receipt - self.first_send),
            "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        }


def stamped(i: int) -> str:
    return f"{time.perf_counter()!r} message {i}"


@contextlib.contextmanager
def processes(commands: list[list[str]], cwd: Path, env: dict[str, str]) -> Iterator[None]:
    procs = [
        subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=(cwd / f"server-{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for n, cmd in enumerate(commands)
    ]
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_http(url: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


async def bounded(jobs: list[Callable[[], Awaitable[Any]]], at_once: int = 50) -> list[Any]:
    gate = asyncio.Semaphore(at_once)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(j) for j in jobs))


# -- eventflux ---------------------------------------------------------------------------------
class ChatConn:
    """A lean chat client: one socket, frames parsed once, acks by cid."""

    def __init__(self, url: str, user: str, room: str, tally: Tally) -> None:
        self.url, self.user, self.room, self.tally = url, user, room, tally
        self.acks: dict[str, asyncio.Future[None]] = {}
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, open_timeout=60, max_queue=None)
        self.reader = asyncio.ensure_future(self.read())
        await self.ws.send(orjson.dumps({"op": "hello", "user": self.user}).decode())
        frame = {"op": "join", "room": self.room, "history": 0}
        await self.ws.send(orjson.dumps(frame).decode())
        await asyncio.wait_for(self.joined, 120)

    async def read(self) -> None:
        async for raw in self.ws:
            f = orjson.loads(raw)
            kind = f["type"]
            if kind == "event":
                if f["event"]["type"] == "MessagePosted":
                    self.tally.delivered(f["event"]["text"])
            elif kind == "ack":
                self.acks.pop(f["cid"]).set_result(None)
            elif kind == "joined":
                self.joined.set_result(None)
            elif kind == "error":
                raise SystemExit(f"the chat refused an operation: {f}")

    async def send(self, i: int) -> None:
        cid = uuid.uuid4().hex
        fut = self.acks[cid] = asyncio.get_running_loop().create_future()
        frame = {"op": "send", "room": self.room, "text": stamped(i), "cid": cid}
        await self.ws.send(orjson.dumps(frame).decode())
        await fut

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.ws.close()


def run_eventflux(clients: int, messages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ports = [free_port() for _ in range(SERVERS)]
        env = {"EVENTFLUX_CHAT_RATE": "1000000", "EVENTFLUX_CHAT_BURST": "1000000"}
        cmds = [
            [
                EVENTFLUX,
                "serve",
                "--port",
                str(p),
                "--log-level",
                "warning",
                "eventflux.demos.chat:app",
            ]
            for p in ports
        ]
        with processes(cmds[:1], folder, env):  # the first one makes the files
            wait_http(f"http://127.0.0.1:{ports[0]}/demos/chat/stats")
            with processes(cmds[1:], folder, env):
                wait_http(f"http://127.0.0.1:{ports[1]}/demos/chat/stats")
                urls = [f"ws://127.0.0.1:{p}/demos/chat/ws" for p in ports]
                with loop_runner() as runner:
                    return runner.run(_eventflux(urls, clients, messages))


async def _eventflux(urls: list[str], clients: int, messages: int) -> dict[str, float]:
    from eventflux.demos.chat import ChatClient

    async with ChatClient(urls[0], "admin") as admin:
        for r in range(ROOMS):
            await admin.create(f"room-{r}")
    tally = Tally(expected=ROOMS * SENDERS_PER_ROOM * messages * (clients // ROOMS))
    conns = [
        ChatConn(urls[(i // ROOMS) % SERVERS], f"user-{i}", f"room-{i % ROOMS}", tally)
        for i in range(clients)
    ]
    started = time.perf_counter()
    await bounded([c.open for c in conns])
    print(f"  eventflux: {clients} clients connected and joined in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    await asyncio.sleep(2.0)  # the presence announcements of the joins settle
    senders = conns[: ROOMS * SENDERS_PER_ROOM]  # two a room, one on each process
    result = await _drive(tally, [lambda c=c: _post(c.send, messages) for c in senders])
    await bounded([c.close for c in conns])
    return result


async def _post(send: Callable[[int], Awaitable[None]], messages: int) -> None:
    for i in range(messages):
        await send(i)


async def _drive(tally: Tally, senders: list[Callable[[], Awaitable[None]]]) -> dict[str, float]:
    tally.first_send = time.perf_counter()
    await asyncio.gather(*(s() for s in senders))
    await asyncio.wait_for(tally.done.wait(), 300)
    return tally.result()


# -- python-socketio --------------------------------------------------------------------------
def run_socketio(clients: int, messages: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ports = [free_port() for _ in range(SERVERS)]
        script = str(Path(__file__).with_name("_chat_socketio.py"))
        with processes([[sys.executable, script, str(p)] for p in ports], Path(tmp), {}):
            for p in ports:
                wait_http(f"http://127.0.0.1:{p}/socket.io/?EIO=4&transport=polling")
            with loop_runner() as runner:
                return runner.run(
                    _socketio([f"http://127.0.0.1:{p}" for p in ports], clients, messages)
                )


async def _socketio(urls: list[str], clients: int, messages: int) -> dict[str, float]:
    import socketio

    tally = Tally(expected=ROOMS * SENDERS_PER_ROOM * messages * (clients // ROOMS))
    pairs: list[tuple[Any, str]] = []

    async def open_one(i: int) -> None:
        room = f"room-{i % ROOMS}"
        client = socketio.AsyncClient(reconnection=False)
        client.on("message", lambda data: tally.delivered(data["text"]))
        await client.connect(urls[(i % ROOMS) % SERVERS], transports=["websocket"], wait_timeout=60)
        await client.call("join", {"room": room}, timeout=120)
        pairs.append((client, room))

    started = time.perf_counter()
    await bounded([lambda i=i: open_one(i) for i in range(clients)])
    print(f"  python-socketio: {clients} clients connected and joined in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    await asyncio.sleep(2.0)
    by_room: dict[str, list[Any]] = {}
    for client, room in pairs:
        by_room.setdefault(room, []).append(client)
    senders = [c for room in sorted(by_room) for c in by_room[room][:SENDERS_PER_ROOM]]
    rooms_of = {id(c): room for c, room in pairs}

    def sender(client: Any) -> Callable[[int], Awaitable[None]]:
        async def send(i: int) -> None:
            await client.call(
                "send", {"room": rooms_of[id(client)], "text": stamped(i)}, timeout=60
            )

        return send

    result = await _drive(tally, [lambda c=c: _post(sender(c), messages) for c in senders])
    await bounded([c.disconnect for c, _ in pairs])
    return result


def show(name: str, r: dict[str, float]) -> None:
    print(
        f"  {name:<16} {r['deliveries']:>8,.0f} delivered  {r['rate']:>10,.0f} msg/s  "
        f"p50 {r['p50_ms']:>7.1f} ms  p99 {r['p99_ms']:>7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=25, help="messages per sender")
    args = parser.parse_args()
    if args.clients % ROOMS or args.clients < ROOMS * SENDERS_PER_ROOM * SERVERS:
        raise SystemExit(f"--clients must be a multiple of {ROOMS}, at least 40")
    sent = ROOMS * SENDERS_PER_ROOM * args.messages
    print(f"chat fan-out: {args.clients} clients, {SERVERS} server processes, {ROOMS} rooms, "
          f"{sent} messages, {args.clients // ROOMS} members a room")  # fmt: skip
    ours = run_eventflux(args.clients, args.messages)
    peer = run_socketio(args.clients, args.messages)
    show("eventflux", ours)
    show("python-socketio", peer)
    ratio = ours["rate"] / peer["rate"]
    verdict = "PASS" if ratio >= 1.0 else "FAIL"
    print(f"  delivered rate eventflux / python-socketio: {ratio:.2f}x (target >= 1.0x) {verdict}")


if __name__ == "__main__":
    main()
