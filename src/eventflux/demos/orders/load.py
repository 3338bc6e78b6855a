"""Place a load of orders on running services and report what happened.

The services run elsewhere (other shells, other machines); this only places
orders on the store, waits until each reached a final state, and prints the
report (payments shares, throughput, completion times, outcomes, money
checks). URLs come from ``--store`` / ``--bus`` or ``$EVENTFLUX_STORE`` /
``$EVENTFLUX_BUS``.

Example::

    $ python -m eventflux.demos.orders.load 500
    $ python -m eventflux.demos.orders.load 500 --store postgresql://app@db/orders \\
          --bus "nats://a:4222,b:4222,c:4222?replicas=3"
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from ..._internal.defaults import bus_url, store_url
from .cluster import OrdersCluster

__all__ = ["drive", "main"]


async def drive(count: int, store: str, bus: str, within: float = 600.0) -> list[str]:
    """Place ``count`` orders on ``store``/``bus``, wait for them, report."""
    with tempfile.TemporaryDirectory(prefix="eventflux-orders-load-") as folder:
        cluster = OrdersCluster(Path(folder), payments=0, store=store, bus=bus)
        ids = await cluster.place(count)
        await cluster.wait_final(ids, within=within)
        report = await cluster.report(ids)
    return [f"placed {count} orders on {store}", *report.lines()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Place orders on running demo services.")
    parser.add_argument("orders", type=int, nargs="?", default=200)
    parser.add_argument("--store", default=None, help="store URL ($EVENTFLUX_STORE)")
    parser.add_argument("--bus", default=None, help="bus URL ($EVENTFLUX_BUS)")
    args = parser.parse_args(argv)
    lines = asyncio.run(drive(args.orders, store_url(args.store), bus_url(args.bus)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
