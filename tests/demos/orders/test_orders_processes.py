"""The orders demo as separate processes on SQLite files (marked slow).

Scale: three payments processes at 20 ms of gateway latency complete at
least 2.2 times the orders per second of one. Faults: a payments process
killed with SIGKILL mid-run and started again loses no order and charges none
twice.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from eventflux.demos.orders.cluster import OrdersCluster, Report

LATENCY = {"ORDERS_GATEWAY_LATENCY": "0.02"}


def _run(workdir: Path, payments: int, orders: int) -> Report:
    with OrdersCluster(workdir, payments=payments, env=LATENCY) as cluster:
        ids = asyncio.run(cluster.place(orders))
        asyncio.run(cluster.wait_final(ids, within=240))
        return asyncio.run(cluster.report(ids))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_payments_processes_complete_over_twice_the_orders_of_one(tmp_path: Path) -> None:
    one = _run(tmp_path / "one", 1, 300)
    three = _run(tmp_path / "three", 3, 600)
    for report in (one, three):
        assert report.lost == []
        assert report.charged_twice == []
    assert len(one.shares) == 1
    assert len(three.shares) == 3
    assert min(three.shares.values()) > 0.2 * sum(three.shares.values())  # all three worked
    ratio = three.steady / one.steady
    print(f"1 worker: {one.steady:.1f} orders/s; 3 workers: {three.steady:.1f}; x{ratio:.2f}")
    assert ratio >= 2.2, "\n".join(["one:", *one.lines(), "three:", *three.lines()])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_payments_process_killed_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with OrdersCluster(tmp_path, payments=3, env=LATENCY) as cluster:
        ids = asyncio.run(cluster.place(400))
        report = asyncio.run(cluster.report(ids))
        give_up = time.monotonic() + 120
        while report.final < len(ids) // 4:  # a quarter of the way through
            assert time.monotonic() < give_up, report.lines()
            time.sleep(0.05)
            report = asyncio.run(cluster.report(ids))
        cluster.kill("payments-2")  # kill -9, mid-charge most likely
        time.sleep(0.5)
        cluster.restart("payments-2")
        asyncio.run(cluster.wait_final(ids, within=240))
        report = asyncio.run(cluster.report(ids))
    assert report.final == len(ids)
    assert report.lost == []
    assert report.charged_twice == []
    assert report.outcomes["completed"] > len(ids) // 2
    assert cluster.restarts["payments-2"] == 1
