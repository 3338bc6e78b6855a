"""Causal chains through an App: command -> events -> relayed messages -> handlers
-> commands -> events, each hop carrying the correlation id and its cause."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from eventflux import App, Context, EventStore, Message, NewEvent
from eventflux.observability import trace


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str


@dataclass(frozen=True)
class Charge:
    order_id: str


async def wait_for_events(store: EventStore, n: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while await store.last_position() < n:
        assert time.monotonic() < deadline, f"timed out waiting for {n} events"
        await asyncio.sleep(0.005)


def shop() -> App:
    app = App("shop", store="memory://", bus="memory://")
    app.relay(stream_prefix="order-", subject="orders.{type}")
    app.relay(stream_prefix="payment-", subject="payments.{type}")

    @app.command(PlaceOrder)
    async def place(cmd: PlaceOrder, ctx: Context) -> None:
        await ctx.store.append(f"order-{cmd.order_id}", [NewEvent("OrderPlaced", {"id": 1})])

    @app.subscribe("orders.OrderPlaced", group="payments")
    async def on_placed(msg: Message, ctx: Context) -> None:
        await ctx.dispatch(Charge(msg.data["id"]))

    @app.command(Charge)
    async def charge(cmd: Charge, ctx: Context) -> None:
        await ctx.store.append(f"payment-{cmd.order_id}", [NewEvent("PaymentCharged", {})])

    @app.subscribe("payments.PaymentCharged", group="shipping")
    async def on_charged(msg: Message, ctx: Context) -> None:
        await ctx.store.append("shipment-1", [NewEvent("ShipmentRequested", {})])

    return app


@pytest.mark.asyncio
async def test_one_command_yields_a_chain_whose_every_hop_has_the_right_cause() -> None:
    app = shop()
    async with app.running():
        await app.dispatch(PlaceOrder("1"), metadata={"actor": "ann"})

        await wait_for_events(app.store, 3)
        placed, charged, shipped = [e async for e in app.store.read_all()]
        chain = await trace(app.store, placed.metadata["correlation_id"], subject_of=app.subject_of)

    root = placed.metadata["causation_id"]
    assert placed.metadata["correlation_id"] == root  # a new conversation: the command's id
    assert {e.metadata["correlation_id"] for e in (placed, charged, shipped)} == {root}
    assert all(e.metadata["actor"] == "ann" for e in (placed, charged, shipped))
    # the Charge command was sent while handling the message relayed from OrderPlaced
    assert charged.metadata["command"] == "Charge"
    assert charged.metadata["command_causation_id"] == str(placed.id)
    assert charged.metadata["causation_id"] != root
    # the shipping handler appended directly: its cause is the relayed message's id
    assert shipped.metadata["causation_id"] == str(charged.id)

    kinds = [(n.kind, n.name) for n in chain.nodes]
    assert kinds == [
        ("command", "PlaceOrder"),
        ("event", "OrderPlaced"),
        ("message", "orders.OrderPlaced"),
        ("command", "Charge"),
        ("event", "PaymentCharged"),
        ("message", "payments.PaymentCharged"),
        ("event", "ShipmentRequested"),
    ]
    assert [e.type for e in chain.events] == ["OrderPlaced", "PaymentCharged", "ShipmentRequested"]
    diagram = chain.mermaid()
    assert diagram.startswith("sequenceDiagram")
    for label in ("actor ann", "order-1", "subject orders.OrderPlaced", "payment-1", "shipment-1"):
        assert f" as {label}" in diagram
    assert "->>" in diagram
    assert "-->>" in diagram


@pytest.mark.asyncio
async def test_an_unknown_correlation_id_gives_an_empty_chain() -> None:
    app = shop()
    async with app.running():
        chain = await trace(app.store, "nobody")
    assert chain.nodes == []
    assert chain.mermaid() == "sequenceDiagram"


def test_mermaid_labels_never_carry_markup() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from eventflux import RecordedEvent
    from eventflux.observability import build_trace

    evil = RecordedEvent(
        uuid4(),
        "s-<script>alert(1)</script>",
        1,
        1,
        "T;\n#x<img onerror=y>",
        {},
        {"correlation_id": "c"},
        datetime.now(UTC),
    )
    diagram = build_trace("c", [evil]).mermaid()
    assert "<" not in diagram
    assert ">" not in diagram.replace("->>", "").replace("-->>", "")
    assert ";" not in diagram
    assert diagram.count("\n") == 3  # the header, two participants, one arrow
