"""Behaviour of the NATS bus beyond the contract: settings, the wire format,
atomic batches, partition hand-over, delivery counts, sharing, restarts."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import nats
import pytest
from tests.servers.nats import NatsServer, free_port, nats_server, nats_server_binary

from eventflux.bus import Message, MessageBus, OutgoingMessage, open_bus
from eventflux.bus.nats import NatsBusBackend
from eventflux.exceptions import BusUnavailableError, CircuitOpenError, ConfigurationError
from eventflux.signals import Reject
from eventflux.testing.bus_contract import Recorder, eventually, eventually_letters

__all__ = ["nats_server"]

pytestmark = pytest.mark.nats


def _url(server: NatsServer, stream: str | None = None, **options: str) -> str:
    query = {"stream": stream or f"N{uuid.uuid4().hex[:10]}", **options}
    return f"{server.url}?{urlencode(query)}"


def _owned(bus: MessageBus) -> int:
    backend = bus.backend
    assert isinstance(backend, NatsBusBackend)
    return sum(len(m.owner.owned) for m in backend.members if m.owner is not None)


@pytest.mark.asyncio
async def test_an_unreachable_server_is_a_clear_error() -> None:
    start = time.monotonic()
    with pytest.raises(BusUnavailableError, match="cannot connect to NATS"):
        await open_bus(f"nats://127.0.0.1:{free_port()}?timeout=1")
    assert time.monotonic() - start < 10


@pytest.mark.asyncio
async def test_a_server_without_jetstream_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        nats_server_binary(),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nats-server did not start"
                await asyncio.sleep(0.05)
        with pytest.raises(BusUnavailableError, match="start nats-server with -js"):
            await open_bus(f"nats://127.0.0.1:{port}?timeout=2")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


@pytest.mark.asyncio
async def test_a_stream_of_someone_else_is_not_taken_over(nats_server: NatsServer) -> None:
    name = f"X{uuid.uuid4().hex[:10]}"
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().add_stream(name=name, subjects=[f"{name}.>"])
        with pytest.raises(ConfigurationError, match="not created by an eventflux bus"):
            await open_bus(_url(nats_server, name))
    finally:
        await nc.jetstream().delete_stream(name)
        await nc.close()


@pytest.mark.asyncio
async def test_partitions_are_fixed_when_the_stream_is_created(nats_server: NatsServer) -> None:
    stream = f"N{uuid.uuid4().hex[:10]}"
    async with await open_bus(_url(nats_server, stream, partitions="4")):
        pass
    with pytest.raises(ConfigurationError, match="partitions=4"):
        await open_bus(_url(nats_server, stream, partitions="8"))
    async with await open_bus(_url(nats_server, stream)) as bus:
        assert isinstance(bus.backend, NatsBusBackend)
        assert bus.backend.settings.partitions == 4


@pytest.mark.asyncio
async def test_odd_ids_keys_and_headers_round_trip(nats_server: NatsServer) -> None:
    values = [" spaced ", '"quoted"', "ünïcode ✓", "a:b=c", "x" * 255]
    async with await open_bus(_url(nats_server)) as bus:
        rec = Recorder()
        bus.subscribe("odd", rec, group="g")
        for v in values:
            await bus.publish("odd", {"v": v}, msg_id=v, key=v, headers={v: v})
        for v in values:  # repeats: deduplicated
            await bus.publish("odd", {"v": v}, msg_id=v, key=v)
        await rec.wait(len(values))
        await asyncio.sleep(0.2)
        got = sorted((m.msg_id, m.key, dict(m.headers), m.data["v"]) for m in rec.messages)
        assert got == sorted((v, v, {v: v}, v) for v in values)


@pytest.mark.asyncio
async def test_publish_many_beyond_one_atomic_batch_and_with_known_ids(
    nats_server: NatsServer,
) -> None:
    async with await open_bus(_url(nats_server)) as bus:
        rec = Recorder()
        bus.subscribe("many", rec, group="g", concurrency=64)
        ids = await bus.publish_many(
            [OutgoingMessage("many", {"n": i}, msg_id=f"m-{i}") for i in range(2500)]
        )
        assert ids == [f"m-{i}" for i in range(2500)]
        await rec.wait(2500, within=30)
        again = [OutgoingMessage("many", {"n": -1}, msg_id="m-0")] + [
            OutgoingMessage("many", {"n": 2500 + i}, msg_id=f"new-{i}") for i in range(2)
        ]
        assert await bus.publish_many(again) == ["m-0", "new-0", "new-1"]
        await rec.wait(2502)
        await asyncio.sleep(0.2)
        assert sorted(m.data["n"] for m in rec.messages) == list(range(2502))


@pytest.mark.asyncio
async def test_members_share_the_partitions_and_hand_them_over_in_order(
    nats_server: NatsServer,
) -> None:
    stream = f"N{uuid.uuid4().hex[:10]}"
    buses = [await open_bus(_url(nats_server, stream)) for _ in range(3)]
    order: dict[str, list[int]] = {}

    async def handle(msg: Message) -> None:
        await asyncio.sleep(0.001)
        order.setdefault(msg.key or "", []).append(msg.data["n"])

    try:
        for b in buses:  # ack_wait bounds the wait for a message astray at a close
            b.subscribe("p", handle, group="g", concurrency=4, ack_wait=5.0)
            await b.ready()
        await eventually(
            lambda: all(_owned(b) >= 2 for b in buses) and sum(map(_owned, buses)) == 8,
            10,
            "a spread of partitions",
        )
        total = 600
        for i in range(0, total, 100):
            await buses[1].publish_many(
                [OutgoingMessage("p", {"n": n}, key=f"k{n % 10}") for n in range(i, i + 100)]
            )
            if i == 200:
                await buses[0].close()  # its partitions move to the others, in order
        await eventually(lambda: sum(map(len, order.values())) >= total, 20, "every message")
        await eventually(lambda: _owned(buses[1]) + _owned(buses[2]) == 8, 10, "a hand-over")
        for k in range(10):
            assert order[f"k{k}"] == list(range(k, total, 10))
    finally:
        for b in buses:
            await b.close()


@pytest.mark.asyncio
async def test_a_keyed_retry_keeps_its_count_across_a_hand_over(nats_server: NatsServer) -> None:
    stream = f"N{uuid.uuid4().hex[:10]}"
    first = await open_bus(_url(nats_server, stream))
    second = await open_bus(_url(nats_server, stream))
    attempts: list[tuple[str, int]] = []

    def failing(name: str) -> Callable[[Message], Awaitable[None]]:
        async def handle(msg: Message) -> None:
            attempts.append((name, msg.attempt))
            raise ValueError("down")

        return handle

    try:
        first.subscribe("r", failing("first"), group="g", max_deliver=5, backoff=(0.3, 0.3))
        await first.ready()
        await first.publish("r", {"n": 1}, key="K", msg_id="r-1")
        await eventually(lambda: len(attempts) == 2, 5, "two attempts on the first member")
        second.subscribe("r", failing("second"), group="g", max_deliver=5, backoff=(0.05, 0.05))
        await second.ready()
        await first.close()  # the retry waiting there goes to the second member
        await eventually(lambda: len(attempts) == 5, 15, "five attempts in all")
        await eventually_letters(second, 1)  # written just after the fifth attempt failed
        (letter,) = await second.dlq.list()
        assert letter.deliveries == 5
        assert attempts == [("first", 1), ("first", 2), ("second", 3), ("second", 4), ("second", 5)]
    finally:
        await first.close()
        await second.close()


@pytest.mark.asyncio
async def test_a_refused_keyed_message_spends_no_attempt(nats_server: NatsServer) -> None:
    refusals = 2

    def fail(msg: Message) -> BaseException | None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            return CircuitOpenError("dependency", 0.02)
        return None

    async with await open_bus(_url(nats_server)) as bus:
        rec = Recorder(fail=fail)
        bus.subscribe("b", rec, group="g", max_deliver=1)
        await bus.publish("b", {}, key="K")
        await rec.wait(3)
        await asyncio.sleep(0.1)
        assert [m.attempt for m in rec.messages] == [1, 1, 1]
        assert await bus.dlq.list() == []


@pytest.mark.asyncio
async def test_checkpoints_and_the_inbox_are_shared(nats_server: NatsServer) -> None:
    stream = f"N{uuid.uuid4().hex[:10]}"
    async with (
        await open_bus(_url(nats_server, stream)) as one,
        await open_bus(_url(nats_server, stream)) as two,
    ):
        assert await one.backend.load_checkpoint("relay") is None
        await one.backend.save_checkpoint("relay", 42)
        await one.backend.save_checkpoint("relay", 43)
        assert await two.backend.load_checkpoint("relay") == 43
        await one.inbox.record("g", "m-1")
        assert await two.inbox.seen("g", "m-1")
        assert not await two.inbox.seen("g", "m-2")
        assert not await two.inbox.seen("other", "m-1")


@pytest.mark.asyncio
async def test_messages_from_other_producers_get_an_id_and_a_time(
    nats_server: NatsServer,
) -> None:
    stream = f"N{uuid.uuid4().hex[:10]}"
    async with await open_bus(_url(nats_server, stream)) as bus:
        rec = Recorder()
        bus.subscribe("ext", rec, group="g")
        await bus.ready()
        nc = await nats.connect(nats_server.url)
        try:
            ack = await nc.jetstream().publish(f"{stream}.u.ext", b'{"x": 1}')
        finally:
            await nc.close()
        await rec.wait(1)
        (msg,) = rec.messages
        assert (msg.subject, msg.data, msg.msg_id, msg.key) == (
            "ext",
            {"x": 1},
            f"{stream}-{ack.seq}",
            None,
        )
        assert abs(msg.published_at.timestamp() - time.time()) < 5


@pytest.mark.asyncio
async def test_the_bus_carries_on_after_the_server_restarts(tmp_path: Path) -> None:
    server = NatsServer(name="restart", root=tmp_path / "server")
    server.start()
    try:
        async with await open_bus(_url(server)) as bus:
            rec = Recorder()
            bus.subscribe("r", rec, group="g", concurrency=4)
            bus.subscribe("r", rec, group="keyed", concurrency=4)
            await bus.publish("r", {"n": 0}, key="K")
            await rec.wait(2)
            server.restart()
            deadline = time.monotonic() + 30
            for n in (1, 2):
                while True:
                    try:
                        await bus.publish("r", {"n": n}, key="K", msg_id=f"after-{n}")
                        break
                    except BusUnavailableError:
                        assert time.monotonic() < deadline, "the bus did not reconnect"
                        await asyncio.sleep(0.2)
            await rec.wait(6, within=30)
            assert sorted(m.data["n"] for m in rec.messages) == [0, 0, 1, 1, 2, 2]
    finally:
        server.close()


@pytest.mark.asyncio
async def test_many_dead_letters_are_listed_and_purged(nats_server: NatsServer) -> None:
    async with await open_bus(_url(nats_server)) as bus:
        rec = Recorder(fail=lambda m: Reject(f"no {m.data['n']}"))
        bus.subscribe("dead", rec, group="g", concurrency=64)
        await bus.publish_many([("dead", {"n": n}) for n in range(600)])
        await rec.wait(600, within=30)
        deadline = time.monotonic() + 10
        while len(letters := await bus.dlq.list()) < 600:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert sorted(x.data["n"] for x in letters) == list(range(600))
        assert [x.dead_at for x in letters] == sorted(x.dead_at for x in letters)
        assert len(await bus.dlq.list(limit=10)) == 10
        assert await bus.dlq.purge(group="g") == 600
        assert await bus.dlq.list() == []
