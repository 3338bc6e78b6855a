"""The orders demo across machines, as it runs there: PostgreSQL for the
store, a three-node NATS JetStream cluster (streams replicated on all three)
for the bus, each service its own process. Mid-run a NATS node dies and a
payments process is killed with SIGKILL (and started again): no order is
lost, none is charged twice (marked slow, postgres, nats)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from tests.servers.nats import NatsCluster
from tests.servers.postgres import PostgresServer

from eventflux.demos.orders.cluster import OrdersCluster


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.nats
@pytest.mark.timeout(600)
def test_the_demo_on_postgres_and_a_nats_cluster_survives_a_node_and_a_worker(
    tmp_path: Path, pg_server: PostgresServer, nats_cluster: NatsCluster
) -> None:
    hosts = ",".join(f"127.0.0.1:{node.port}" for node in nats_cluster.nodes)
    suffix = uuid.uuid4().hex[:10]
    store = pg_server.url() + f"?schema=orders_{suffix}"
    bus = f"nats://{hosts}?stream=ORDERS_{suffix}&replicas=3&timeout=10"
    env = {"ORDERS_GATEWAY_LATENCY": "0.02"}
    with OrdersCluster(tmp_path, payments=2, store=store, bus=bus, env=env) as cluster:
        ids = asyncio.run(cluster.place(200))
        report = asyncio.run(cluster.report(ids))
        give_up = time.monotonic() + 180
        while report.final < len(ids) // 4:
            assert time.monotonic() < give_up, report.lines()
            time.sleep(0.1)
            report = asyncio.run(cluster.report(ids))
        nats_cluster.kill(1)  # one of three nodes gone; the streams keep a majority
        cluster.kill("payments-1")
        time.sleep(0.5)
        cluster.restart("payments-1")
        asyncio.run(cluster.wait_final(ids, within=300))
        report = asyncio.run(cluster.report(ids))
    print("\n".join(report.lines()))
    assert report.final == len(ids)
    assert report.lost == []
    assert report.charged_twice == []
    assert set(report.shares) == {"payments-1", "payments-2"}
