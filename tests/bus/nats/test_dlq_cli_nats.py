"""``eventflux dlq list|retry|purge`` against a ``nats://`` bus."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import nats
import nats.js.errors
import pytest
import typer
from tests.servers.nats import NatsServer, nats_server
from typer.testing import CliRunner

from eventflux import Reject
from eventflux.bus import Message, open_bus
from eventflux.cli.bus import register
from eventflux.testing.bus_contract import eventually_letters

__all__ = ["nats_server"]

pytestmark = pytest.mark.nats

runner = CliRunner()


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


async def _make_letters(url: str) -> None:
    async with await open_bus(url) as bus:

        async def refuse(msg: Message) -> None:
            raise Reject(f"bad {msg.data['n']}")

        bus.subscribe("orders.created", refuse, group="payments")
        bus.subscribe("orders.created", refuse, group="audit")
        for n in range(3):
            await bus.publish("orders.created", {"n": n}, msg_id=f"o-{n}")
        await eventually_letters(bus, 6, within=20)


async def _letters(url: str) -> list[str]:
    async with await open_bus(url) as bus:
        return sorted(f"{x.group}:{x.msg_id}" for x in await bus.dlq.list())


async def _delete_streams(server: NatsServer, stream: str) -> None:
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream()
        for name in (stream, f"{stream}_META"):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(name)
    finally:
        await nc.close()


def test_dlq_commands_on_nats(nats_server: NatsServer) -> None:
    stream = f"D{uuid.uuid4().hex[:10]}"
    try:
        _commands(f"{nats_server.url}?stream={stream}")
    finally:
        asyncio.run(_delete_streams(nats_server, stream))


def _commands(url: str) -> None:
    asyncio.run(_make_letters(url))

    listed = runner.invoke(_cli(), ["dlq", "list", "--bus", url, "--json", "--group", "payments"])
    assert listed.exit_code == 0, listed.output
    letters = [json.loads(line) for line in listed.output.splitlines()]
    assert [x["msg_id"] for x in letters] == ["o-0", "o-1", "o-2"]
    assert letters[0]["error"] == "bad 0"
    assert letters[0]["data"] == {"n": 0}

    table = runner.invoke(_cli(), ["dlq", "list", "--bus", url], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "6 dead letter(s)" in table.output

    # a retried letter goes back to its group; nobody consumes it now, so it stays
    # listed (in flight) until handled
    one = runner.invoke(_cli(), ["dlq", "retry", letters[0]["id"], "--bus", url])
    assert one.exit_code == 0, one.output
    assert "retried 1" in one.output
    unknown = runner.invoke(_cli(), ["dlq", "retry", "payments:nope:1", "--bus", url])
    assert unknown.exit_code == 1

    purged = runner.invoke(_cli(), ["dlq", "purge", "--group", "audit", "--yes", "--bus", url])
    assert purged.exit_code == 0, purged.output
    assert "purged 3" in purged.output
    assert asyncio.run(_letters(url)) == ["payments:o-0", "payments:o-1", "payments:o-2"]
    everything = runner.invoke(_cli(), ["dlq", "purge", "--bus", url], input="y\n")
    assert "purged 3" in everything.output
    assert asyncio.run(_letters(url)) == []
