"""Two ``eventflux serve`` processes on one PostgreSQL store and one NATS
JetStream bus: a token made once works on both, an event appended through one
reaches a live reader of the other, a message published through one reaches
a WebSocket group member on the other, and both serve the demo Apps (their
workers sharing the consumer groups, their projections one read model)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from tests.server._proc import EVENTFLUX, ServeProcess
from tests.server._sse import sse_items
from tests.servers.nats import NatsServer, nats_server
from tests.servers.postgres import PostgresServer, pg_server
from websockets.asyncio.client import connect

__all__ = ["nats_server", "pg_server"]


@pytest.mark.postgres
@pytest.mark.nats
@pytest.mark.slow
@pytest.mark.asyncio
async def test_two_servers_share_the_store_the_bus_and_the_tokens(
    tmp_path: Path, pg_server: PostgresServer, nats_server: NatsServer
) -> None:
    store = pg_server.url(schema="t_" + uuid.uuid4().hex[:12])
    bus = nats_server.url
    created = await asyncio.to_thread(
        subprocess.run,
        [EVENTFLUX, "token", "create", "--scope", "admin", "--store", store],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = created.stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    args = ("--host", "0.0.0.0", "--store", store, "--bus", bus, "--demos")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with ServeProcess(tmp_path / "a", *args) as one, ServeProcess(tmp_path / "b", *args) as two:
        async with httpx.AsyncClient(timeout=20) as client:
            assert (await client.get(two.url + "/api/streams")).status_code == 401
            async with client.stream("GET", two.url + "/api/subscribe", headers=auth) as feed:
                assert feed.status_code == 200
                items = sse_items(feed)
                r = await client.post(
                    one.url + "/api/streams/order-1",
                    json={"events": [{"type": "Placed", "data": {"n": 1}}]},
                    headers=auth,
                )
                assert r.status_code == 201
                while True:  # after the demos' first data
                    item = await asyncio.wait_for(items.__anext__(), 20)
                    if item.id is not None and item.event == "Placed":
                        break
                assert item.json()["stream"] == "order-1"

            ws_url = two.url.replace("http://", "ws://") + "/api/ws"
            async with connect(ws_url, additional_headers=auth) as ws:
                json.loads(await ws.recv())  # welcome
                await ws.send(
                    json.dumps(
                        {
                            "op": "subscribe",
                            "sub": "b",
                            "source": "bus",
                            "subject": "orders.*",
                            "group": "ws-cluster",
                        }
                    )
                )
                subscribed = json.loads(await asyncio.wait_for(ws.recv(), 20))
                assert subscribed["type"] == "subscribed"
                r = await client.post(
                    one.url + "/api/publish/orders.created",
                    json={"data": {"id": 7}, "msg_id": "o-7"},
                    headers=auth,
                )
                assert r.status_code == 202
                message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                assert message["type"] == "message"
                assert message["message"]["data"] == {"id": 7}

            for server in (one, two):  # the demo Apps on both, one read model
                for _ in range(400):
                    r = await client.get(server.url + "/api/projections", headers=auth)
                    rows = {p["name"]: p for p in r.json()["projections"]}
                    if rows["shop-catalog"]["lag"] == 0 and rows["bank-accounts"]["lag"] == 0:
                        break
                    await asyncio.sleep(0.05)
                assert rows["shop-catalog"]["status"] == "running"
                assert rows["shop-catalog"]["lag"] == 0
                groups = (await client.get(server.url + "/api/groups", headers=auth)).json()
                assert "shop-stock" in {g["name"] for g in groups["groups"]}
            accounts = await client.get(one.url + "/api/streams?prefix=account-", headers=auth)
            assert [s["stream"] for s in accounts.json()] == ["account-alice", "account-bob"]
