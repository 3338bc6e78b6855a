"""``eventflux demo orders``: the four services as processes, N orders, and
what scaling out did.

Example::

    $ eventflux demo orders --workers 3 --orders 500
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from .cluster import OrdersCluster

__all__ = ["TITLE", "run"]

TITLE = "Orders: four services and a saga, payments scaled out over processes"


def _remove(workdir: Path) -> None:
    for pattern in ("orders-events.db*", "orders-bus.db*", "*.log"):
        for path in workdir.glob(pattern):
            path.unlink()


async def run(
    workdir: Path,
    *,
    workers: int = 3,
    orders: int = 200,
    latency: float = 0.02,
    store: str | None = None,
    bus: str | None = None,
) -> list[str]:
    """Start ``orders``, ``stock``, ``shipping`` and ``workers`` payments
    processes on SQLite files in ``workdir`` (or on ``store``/``bus``), place
    ``orders`` orders and report per-worker shares, throughput, completion
    times and outcomes."""
    if store is None:
        _remove(workdir)
    env = {"ORDERS_GATEWAY_LATENCY": str(latency)}
    cluster = OrdersCluster(workdir, payments=workers, store=store, bus=bus, env=env)
    started = time.monotonic()
    await asyncio.to_thread(cluster.start)
    lines = [
        f"started orders, stock, shipping and {workers} payments processes "
        f"in {time.monotonic() - started:.1f} s (gateway latency {latency * 1000:.0f} ms, "
        "one charge at a time per payments process)",
        f"store {cluster.store_url}, bus {cluster.bus_url}",
    ]
    try:
        ids = await cluster.place(orders)
        lines.append(f"placed {len(ids)} orders")
        await cluster.wait_final(ids, within=max(120.0, orders * 0.5))
        report = await cluster.report(ids)
    finally:
        await asyncio.to_thread(cluster.stop)
    lines += report.lines()
    lines.append("watch it live: eventflux serve, then open http://127.0.0.1:8000/demos/orders")
    return lines
