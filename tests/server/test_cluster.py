"""Two ``eventflux serve`` processes on one PostgreSQL store and one NATS
JetStream bus: a token made once works on both, an event appended through one
reaches a live reader of the other, and a message published through one
reaches a WebSocket group member on the other."""

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
    args = ("--host", "0.0.0.0", "--store", store, "--bus", bus)
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
                while True:
                    item = await asyncio.wait_for(items.__anext__(), 20)
                    if item.id is not None:
                        break
                assert item.event == "Placed"
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
