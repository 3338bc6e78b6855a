"""The NATS guide's order and payment services run as real worker processes.

The ```python nats blocks of docs/bus-nats.md (or of docs/bus.md, once the
guides are merged) are written to files and run with ``eventflux worker``
against a NATS server: two payment workers and one order service. Every order
must be paid, and both payment workers must have charged some.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tests.servers.nats import NatsServer, nats_server

__all__ = ["nats_server"]

pytestmark = pytest.mark.nats

DOCS = Path(__file__).resolve().parents[3] / "docs"
_BLOCK = re.compile(r"^```python nats\n(.*?)^```[ \t]*$", re.S | re.M)
SERVICES = {"orders_service.py", "payments_service.py"}


def _services() -> dict[str, str]:
    for name in ("bus-nats.md", "bus.md"):
        path = DOCS / name
        if path.exists():
            blocks = {
                code.splitlines()[0].removeprefix("# "): code
                for code in _BLOCK.findall(path.read_text(encoding="utf-8"))
                if code.startswith("# ")
            }
            if blocks.keys() >= SERVICES:
                return blocks
    raise AssertionError("the NATS guide's orders_service.py and payments_service.py are missing")


def _worker(target: str, folder: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    with open(folder / f"{name}.out", "wb") as out, open(folder / f"{name}.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "eventflux.cli", "worker", target],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=err,
        )


def _wait(condition: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.timeout(180)
def test_two_payment_workers_share_the_orders(nats_server: NatsServer, tmp_path: Path) -> None:
    for name, code in _services().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "EVENTFLUX_BUS": f"{nats_server.url}?stream=SHOP{uuid.uuid4().hex[:8]}",
        "PYTHONUNBUFFERED": "1",
    }
    procs = [_worker("payments_service:setup", tmp_path, env, f"payments{i}") for i in (1, 2)]
    try:
        _wait(
            lambda: all("worker " in (tmp_path / f"payments{i}.err").read_text() for i in (1, 2)),
            "the payment workers",
        )
        procs.append(_worker("orders_service:setup", tmp_path, env, "orders"))
        paid = tmp_path / "orders.out"
        _wait(lambda: paid.read_text().count(" paid") >= 100, "100 paid orders")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)
    orders = {int(m) for m in re.findall(r"order (\d+) paid", paid.read_text())}
    assert orders == set(range(1, 101))
    charged: dict[str, set[int]] = {}
    for i in (1, 2):
        for pid, order in re.findall(
            r"worker (\d+) charged order (\d+)", (tmp_path / f"payments{i}.out").read_text()
        ):
            charged.setdefault(pid, set()).add(int(order))
    assert set().union(*charged.values()) == set(range(1, 101))
    assert len(charged) == 2, "both payment workers charged orders"
    assert all(p.returncode == 0 for p in procs)
