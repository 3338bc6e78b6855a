"""Correlation and causation across two real processes on the SQLite store and bus:
one command produces a chain of seven hops (commands, events, relayed messages),
half of them in an ``eventflux worker`` process, and every hop carries the same
correlation id and the right cause."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eventflux import App, EventStore
from eventflux.observability import trace

APPS = """
from dataclasses import dataclass

from eventflux import App, Context, Message, NewEvent


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str


@dataclass(frozen=True)
class Charge:
    order_id: str


orders = App("orders")
orders.relay(stream_prefix="order-", subject="orders.{type}")


@orders.command(PlaceOrder)
async def place(cmd: PlaceOrder, ctx: Context) -> None:
    event = NewEvent("OrderPlaced", {"id": cmd.order_id})
    await ctx.store.append(f"order-{cmd.order_id}", [event])


@orders.subscribe("payments.PaymentCharged", group="orders")
async def paid(msg: Message, ctx: Context) -> None:
    await ctx.store.append(f"order-{msg.data['id']}", [NewEvent("OrderPaid", {})])


payments = App("payments")
payments.relay(stream_prefix="payment-", subject="payments.{type}")


@payments.subscribe("orders.OrderPlaced", group="payments")
async def on_placed(msg: Message, ctx: Context) -> None:
    await ctx.dispatch(Charge(msg.data["id"]))


@payments.command(Charge)
async def charge(cmd: Charge, ctx: Context) -> None:
    event = NewEvent("PaymentCharged", {"id": cmd.order_id})
    await ctx.store.append(f"payment-{cmd.order_id}", [event])
"""


async def _wait_for_types(store: EventStore, types: set[str], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while {e.type async for e in store.read_all()} < types:
        assert time.monotonic() < deadline, f"timed out waiting for {types}"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
@pytest.mark.slow
async def test_a_chain_of_seven_hops_across_two_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "chain_apps.py").write_text(textwrap.dedent(APPS))
    monkeypatch.setenv("EVENTFLUX_STORE", f"sqlite:///{tmp_path}/events.db")
    monkeypatch.setenv("EVENTFLUX_BUS", f"sqlite:///{tmp_path}/bus.db")
    monkeypatch.syspath_prepend(str(tmp_path))
    import chain_apps  # type: ignore[import-not-found]

    orders: App = chain_apps.orders
    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
        [sys.executable, "-m", "eventflux.cli", "worker", "chain_apps:payments"],
        cwd=tmp_path,
        env={**os.environ, "EVENTFLUX_LOG_LEVEL": "WARNING"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def banner() -> None:  # the worker prints it once its groups have joined
        assert worker.stdout is not None
        for line in worker.stdout:
            lines.append(line)
            if "app 'payments'" in line:
                return
        raise AssertionError("the worker ended before it was ready: " + "".join(lines))

    try:
        await asyncio.wait_for(asyncio.to_thread(banner), 60)
        async with orders.running():
            await orders.dispatch(chain_apps.PlaceOrder("7"), metadata={"actor": "ann"})
            await _wait_for_types(orders.store, {"OrderPlaced", "PaymentCharged", "OrderPaid"})
            events = [e async for e in orders.store.read_all()]
            correlation = events[0].metadata["correlation_id"]
            chain = await trace(
                orders.store,
                correlation,
                subject_of=lambda e: orders.subject_of(e) or chain_apps.payments.subject_of(e),
            )
    finally:
        worker.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == 0, "".join(lines) + out

    placed, charged, paid = events
    assert {e.metadata["correlation_id"] for e in events} == {correlation}
    assert {e.metadata["actor"] for e in events} == {"ann"}
    assert placed.metadata["causation_id"] == correlation  # the first command's id
    assert charged.metadata["command"] == "Charge"
    assert charged.metadata["command_causation_id"] == str(placed.id)  # the relayed message
    assert paid.metadata["causation_id"] == str(charged.id)  # the message relayed from it
    assert [(n.kind, n.name) for n in chain.nodes] == [
        ("command", "PlaceOrder"),
        ("event", "OrderPlaced"),
        ("message", "orders.OrderPlaced"),
        ("command", "Charge"),
        ("event", "PaymentCharged"),
        ("message", "payments.PaymentCharged"),
        ("event", "OrderPaid"),
    ]
