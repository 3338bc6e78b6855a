"""The ``payments`` service: charges, refunds and voids through the simulated
gateway, behind a circuit breaker.

Run as many as the load needs; they share the ``payments`` consumer group::

    eventflux worker eventflux.demos.orders:payments     # in three shells

While the breaker is open the bus holds the requests back without spending
their deliveries (no charge is retried into a dead gateway); when it half-opens
one trial call goes through, and a success lets the rest follow. A charge is
made once per order even when its request is delivered again: the service
looks at its own ledger (``payment-{order}``) first, and calls the gateway with
the order id as idempotency key.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...app import App, Context
from ...bus import Message
from ...events import NewEvent
from ...exceptions import ConcurrencyError
from ...resilience import CircuitBreaker, StateChange
from ...store import EventStore
from .domain import PAYMENTS, event_id, settings
from .gateway import PaymentGateway

__all__ = ["breaker", "payments"]

payments = App("payments")
breaker = CircuitBreaker(
    "payment-gateway", failure_threshold=3, reset_timeout=settings().breaker_reset
)
_gateways: dict[int, PaymentGateway] = {}
_background: set[asyncio.Task[Any]] = set()


def _gateway(store: EventStore) -> PaymentGateway:
    found = _gateways.get(id(store))
    if found is None or found.store is not store:
        found = _gateways[id(store)] = PaymentGateway(store)
    return found


@payments.task
async def record_breaker_changes(ctx: Context) -> None:
    """Record each change of this process's breaker (the demo page shows them)."""

    def changed(change: StateChange) -> None:
        data = {
            "worker": settings().worker,
            "old": change.old.value,
            "new": change.new.value,
            "reason": change.reason,
        }
        task = asyncio.get_running_loop().create_task(
            ctx.store.append("gateway-breakers", [NewEvent("orders.BreakerChanged", data)])
        )
        _background.add(task)
        task.add_done_callback(_background.discard)

    breaker.add_listener(changed)
    try:
        await asyncio.Event().wait()
    finally:
        breaker.remove_listener(changed)


async def _ledger(store: EventStore, order_id: str) -> tuple[dict[str, Any], int]:
    events = [e async for e in store.read(f"payment-{order_id}")]
    return {e.type: e.data for e in events}, len(events)


async def _charge(store: EventStore, data: dict[str, Any]) -> None:
    order_id = data["order_id"]
    while True:
        seen, version = await _ledger(store, order_id)
        if seen.keys() & {
            "orders.PaymentCharged",
            "orders.PaymentDeclined",
            "orders.PaymentVoided",
        }:
            return  # decided before (a redelivery), or voided: no charge
        charge = await _gateway(store).charge(order_id, int(data["amount"]), key=order_id)
        fact = {
            "order_id": order_id,
            "amount": charge.amount,
            "charge_id": charge.charge_id,
            "worker": settings().worker,
        }
        kind = "orders.PaymentDeclined" if charge.declined else "orders.PaymentCharged"
        try:
            await store.append(
                f"payment-{order_id}",
                [NewEvent(kind, fact, id=event_id(order_id, "payment"))],
                version,
            )
            return
        except ConcurrencyError:
            continue


async def _refund(store: EventStore, order_id: str, *, void: bool) -> None:
    while True:
        seen, version = await _ledger(store, order_id)
        events: list[NewEvent] = []
        if void and "orders.PaymentVoided" not in seen:
            events.append(
                NewEvent(
                    "orders.PaymentVoided", {"order_id": order_id}, id=event_id(order_id, "void")
                )
            )
        charged = seen.get("orders.PaymentCharged")
        if charged is not None and "orders.PaymentRefunded" not in seen:
            await _gateway(store).refund(order_id, charged["charge_id"], key=f"refund-{order_id}")
            fact = {"order_id": order_id, "charge_id": charged["charge_id"]}
            events.append(NewEvent("orders.PaymentRefunded", fact, id=event_id(order_id, "refund")))
        if not events:
            return
        try:
            await store.append(f"payment-{order_id}", events, version)
            return
        except ConcurrencyError:
            continue


@payments.subscribe(
    PAYMENTS,
    group="payments",
    breaker=breaker,
    concurrency=max(1, settings().gateway_slots),
    max_deliver=1000,
    backoff=(0.05, 1.0),
    ack_wait=5.0,
)
async def on_payment_request(msg: Message, ctx: Context) -> None:
    """``charge``, ``refund`` (a compensation) or ``void`` (after a timeout)."""
    op, order_id = msg.data["op"], msg.data["order_id"]
    if op == "charge":
        await _charge(ctx.store, msg.data)
    elif op in ("refund", "void"):
        await _refund(ctx.store, order_id, void=op == "void")
