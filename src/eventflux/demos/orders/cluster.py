"""The orders demo as separate processes: start the services, place orders,
kill and restart workers, and measure what happened.

Each service runs as ``python -m eventflux.cli worker
eventflux.demos.orders:<service>`` with the store and bus URLs in its
environment; N payments processes share the ``payments`` consumer group.
The report reads only the event store: each order's placement and end,
which payments process charged it, and the gateway's ledger (money moved at
most once per order).

Example::

    with OrdersCluster(workdir, payments=3) as cluster:
        ids = await cluster.place(200)
        await cluster.wait_final(ids, within=120)
        report = await cluster.report(ids)
        print(report.lines())
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from ..._internal.ids import new_id
from ...app import App
from ...bus import open_bus
from ...events import RecordedEvent
from ...store import EventStore, open_store
from .domain import PlaceOrder
from .orders_app import place_order

__all__ = ["OrdersCluster", "Report", "percentile"]

SERVICES = ("orders", "stock", "shipping")
#: The products a load mixes: mostly in stock, some rare, some sold out.
LOAD_MIX = ("mug", "teapot", "kettle") * 6 + ("rare-print", "sold-out")


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (0..1) of ``values`` (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Report:
    """What a run did: shares, throughput, completion times, outcomes, and the
    checks (every order final, none charged twice)."""

    orders: int
    final: int
    seconds: float
    p50: float
    p99: float
    steady: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    shares: Counter[str] = field(default_factory=Counter)
    charged_twice: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Orders that reached a final state per second (first placed to last ended)."""
        return self.final / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        out = [
            f"{self.final} of {self.orders} orders reached a final state in "
            f"{self.seconds:.2f} s: {self.throughput:.1f} orders/s "
            f"({self.steady:.1f} orders/s while the middle 80% finished)",
            f"completion time: p50 {self.p50 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms",
            "outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())),
        ]
        total = sum(self.shares.values()) or 1
        for worker, count in sorted(self.shares.items()):
            out.append(f"  {worker}: {count} payments ({100 * count / total:.0f}%)")
        out.append(
            f"charged twice: {len(self.charged_twice)}, lost (no final state): {len(self.lost)}"
        )
        return out


def _client() -> App:
    """An App that only places orders (the driver's own; no saga runs in it)."""
    client = App("orders-client")
    client.command(PlaceOrder)(place_order)
    return client


class OrdersCluster:
    """The four services as processes on one store and one bus.

    ``store`` / ``bus`` default to SQLite files in ``workdir``; ``env`` adds
    settings (``ORDERS_GATEWAY_LATENCY``...) for every process.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        payments: int = 3,
        store: str | None = None,
        bus: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()  # processes run in it: relative would nest
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store_url = store or f"sqlite:///{self.workdir}/orders-events.db?durability=normal"
        self.bus_url = bus or f"sqlite:///{self.workdir}/orders-bus.db?durability=normal"
        self.env = {
            **os.environ,
            "EVENTFLUX_STORE": self.store_url,
            "EVENTFLUX_BUS": self.bus_url,
            "EVENTFLUX_LOG_LEVEL": os.environ.get("EVENTFLUX_LOG_LEVEL", "WARNING"),
            **(env or {}),
        }
        self.names = [*SERVICES, *(f"payments-{i + 1}" for i in range(payments))]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: Counter[str] = Counter()

    # -- processes ---------------------------------------------------------------------
    def log_file(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        """Start the process ``name`` (``payments-2`` runs the payments service)."""
        service = name.partition("-")[0]
        env = {**self.env, "EVENTFLUX_WORKER_NAME": name}
        with open(self.log_file(name), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "eventflux.cli", "worker",
                 f"eventflux.demos.orders:{service}"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.procs[name] = proc
        return proc

    def _ready(self, name: str, since: int) -> bool:
        text = self.log_file(name).read_bytes()[since:].decode(errors="replace")
        return f"app '{name.partition('-')[0]}'" in text

    def wait_ready(
        self,
        names: list[str],
        within: float = 120.0,
        since: dict[str, int] | None = None,
        attempts: int = 5,
    ) -> None:
        """Wait until each process printed that its consumer groups joined.
        Like a supervisor, start a process again if it exits while starting
        (its bus may be electing a leader), up to ``attempts`` times."""
        marks = dict(since or {})
        tries = dict.fromkeys(names, 1)
        give_up = time.monotonic() + within
        for name in names:
            while not self._ready(name, marks.get(name, 0)):
                proc = self.procs[name]
                if proc.poll() is not None:
                    if tries[name] >= attempts:
                        raise RuntimeError(
                            f"{name} exited with {proc.returncode}:\n{self.tail(name)}"
                        )
                    tries[name] += 1
                    time.sleep(1.0)
                    marks[name] = self.log_file(name).stat().st_size
                    self.spawn(name)
                if time.monotonic() > give_up:
                    raise TimeoutError(f"{name} did not start:\n{self.tail(name)}")
                time.sleep(0.05)

    def tail(self, name: str, size: int = 3000) -> str:
        try:
            return self.log_file(name).read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def start(self) -> None:
        """Create the store's schema and the bus's streams, then start every
        process and wait until all are ready."""
        asyncio.run(self._prepare())
        for name in self.names:
            self.spawn(name)
        self.wait_ready(self.names)

    async def _prepare(self) -> None:
        async with await open_store(self.store_url), await open_bus(self.bus_url):
            pass

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` (a crash: its leased messages come back after ack_wait)."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def restart(self, name: str, *, wait: bool = True) -> None:
        """Start ``name`` again (after :meth:`kill`)."""
        self.restarts[name] += 1
        mark = self.log_file(name).stat().st_size if self.log_file(name).exists() else 0
        self.spawn(name)
        if wait:
            self.wait_ready([name], since={name: mark})

    def stop(self) -> None:
        """SIGTERM every process (they drain), SIGKILL those that linger."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- load ---------------------------------------------------------------------------
    async def place(self, count: int, *, mix: tuple[str, ...] = LOAD_MIX) -> list[str]:
        """Place ``count`` orders as fast as the store takes them; their ids."""
        client = _client()
        run = new_id()[:8]
        ids = [f"{run}-{i:05d}" for i in range(count)]
        async with (
            await open_store(self.store_url) as store,
            await open_bus(self.bus_url) as bus,
            client.running(store=store, bus=bus),
        ):
            await asyncio.gather(
                *(
                    client.dispatch(PlaceOrder(oid, mix[i % len(mix)], customer=f"c{i % 17}"))
                    for i, oid in enumerate(ids)
                )
            )
        return ids

    async def wait_final(self, ids: list[str], within: float = 300.0) -> None:
        """Wait until every order in ``ids`` is completed or cancelled."""
        wanted = set(ids)
        give_up = time.monotonic() + within
        async with await open_store(self.store_url) as store:
            after = 0
            ended: set[str] = set()
            while not wanted <= ended:
                async for e in store.read_all(
                    after=after, types=["orders.OrderCompleted", "orders.OrderCancelled"]
                ):
                    ended.add(e.data["order_id"])
                    after = e.position
                if time.monotonic() > give_up:
                    missing = sorted(wanted - ended)
                    raise TimeoutError(f"{len(missing)} orders did not finish, e.g. {missing[:5]}")
                await asyncio.sleep(0.05)

    async def report(self, ids: list[str]) -> Report:
        """Read the store: times, outcomes, shares, and the money checks."""
        async with await open_store(self.store_url) as store:
            return await build_report(store, ids)


async def build_report(store: EventStore, ids: list[str]) -> Report:
    """The :class:`Report` of the orders ``ids`` from the store's events."""
    wanted = set(ids)
    placed: dict[str, RecordedEvent] = {}
    ended: dict[str, RecordedEvent] = {}
    shares: Counter[str] = Counter()
    money: Counter[str] = Counter()
    types = [
        "orders.OrderPlaced",
        "orders.OrderCompleted",
        "orders.OrderCancelled",
        "orders.PaymentCharged",
        "orders.PaymentDeclined",
        "orders.GatewayCharged",
    ]
    async for e in store.read_all(types=types):
        oid = e.data.get("order_id")
        if oid not in wanted:
            continue
        if e.type == "orders.OrderPlaced":
            placed[oid] = e
        elif e.type in ("orders.OrderCompleted", "orders.OrderCancelled"):
            ended[oid] = e
        elif e.type == "orders.GatewayCharged":
            if not e.data.get("declined"):
                money[oid] += 1
        else:
            shares[str(e.data.get("worker"))] += 1
    outcomes: Counter[str] = Counter()
    for e in ended.values():
        reason = e.data.get("reason")
        outcomes["completed" if e.type == "orders.OrderCompleted" else f"cancelled ({reason})"] += 1
    durations = [
        (ended[o].recorded_at - placed[o].recorded_at).total_seconds() for o in ended if o in placed
    ]
    ends = sorted(e.recorded_at for e in ended.values())
    steady = 0.0
    if len(ends) >= 10:
        low, high = len(ends) // 10, len(ends) - 1 - len(ends) // 10
        span = (ends[high] - ends[low]).total_seconds()
        steady = (high - low) / span if span > 0 else 0.0
    first = min((e.recorded_at for e in placed.values()), default=None)
    last = max((e.recorded_at for e in ended.values()), default=None)
    seconds = (last - first).total_seconds() if first and last else 0.0
    return Report(
        orders=len(ids),
        final=len(ended),
        seconds=seconds,
        p50=percentile(durations, 0.50),
        p99=percentile(durations, 0.99),
        steady=steady,
        outcomes=outcomes,
        shares=shares,
        charged_twice=sorted(o for o, n in money.items() if n > 1),
        lost=sorted(wanted - set(ended)),
    )
