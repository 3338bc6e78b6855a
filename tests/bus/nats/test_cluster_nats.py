"""A three-node NATS cluster loses a node while messages flow (marked slow).

The bus's stream has three replicas on nodes that flush every write before
acknowledging it (``sync_interval: always``). Two member processes consume
while the test publishes; the node leading the stream is SIGKILLed a third of
the way through. A publish that fails (no ack within the timeout, no leader
yet) is repeated with the same ``msg_id``, which dedup makes safe. Every
publish that was acknowledged must be handled, and since no handler ever
fails, nothing may reach the dead-letter queue (a delivery lost in transit
during the failover does not count against ``max_deliver``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from tests.servers.nats import NatsCluster, nats_cluster

from eventflux.bus import open_bus
from eventflux.bus.nats import NatsBusBackend
from eventflux.exceptions import BusError

from ._procs import letters, publish, spawn, stop_all, wait_ready

__all__ = ["nats_cluster"]

pytestmark = [pytest.mark.nats, pytest.mark.slow]

TOTAL = 3000


async def _publish_through_the_failure(
    url: str, cluster: NatsCluster, stream: str, killed: list[str]
) -> set[str]:
    acked: set[str] = set()
    async with await open_bus(url) as bus:
        backend = bus.backend
        assert isinstance(backend, NatsBusBackend)
        info = await backend.js.stream_info(stream)
        leader = info.cluster.leader

        async def one(n: int) -> None:
            msg_id = f"c-{n}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    await bus.publish("work", {"n": n}, msg_id=msg_id)
                    acked.add(msg_id)
                    return
                except BusError:
                    assert time.monotonic() < deadline, f"{msg_id} could not be published"
                    await asyncio.sleep(0.2)

        for start in range(0, TOTAL, 50):
            if start == TOTAL // 3:
                index = next(i for i, n in enumerate(cluster.nodes) if n.name == leader)
                cluster.kill(index)
                killed.append(leader)
            await asyncio.gather(*(one(n) for n in range(start, min(TOTAL, start + 50))))
    return acked


@pytest.mark.timeout(300)
def test_losing_a_node_loses_no_acknowledged_message(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    stream = f"C{uuid.uuid4().hex[:10]}"
    hosts = ",".join(f"127.0.0.1:{node.port}" for node in nats_cluster.nodes)
    url = f"nats://{hosts}?stream={stream}&replicas=3&timeout=3"
    log = tmp_path / "handled.log"
    publish(url, [])  # create the R3 streams and the group
    procs = [spawn("plain", url, log) for _ in range(2)]
    killed: list[str] = []
    try:
        wait_ready(log, procs)
        acked = asyncio.run(_publish_through_the_failure(url, nats_cluster, stream, killed))
        assert killed, "no node was killed"
        assert len(acked) == TOTAL
        deadline = time.monotonic() + 120
        while True:
            handled = {line for line in log.read_text().split() if line != "ready"}
            if acked <= handled:
                break
            missing = len(acked - handled)
            assert time.monotonic() < deadline, f"{missing} acknowledged messages not handled"
            time.sleep(0.5)
    finally:
        stop_all(procs)
    assert handled <= {f"c-{n}" for n in range(TOTAL)}, "a message nobody published"
    dead = letters(url)
    assert dead == [], f"{len(dead)} dead letter(s) though no handler failed: {dead[:5]}"
