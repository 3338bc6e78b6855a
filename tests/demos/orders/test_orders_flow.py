"""The orders demo in one process: the flow, every compensation, the breaker
during a gateway outage, and a charge made once per order."""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest

from eventflux import open_bus, open_store
from eventflux.demos.orders import SERVICES, OrderFulfilment
from eventflux.demos.orders.domain import PAYMENTS
from eventflux.demos.orders.gateway import set_outage
from eventflux.demos.orders.load import drive
from eventflux.demos.orders.payments_app import breaker
from eventflux.resilience import CircuitState

from ._helpers import Shop, declined, eventually, order_ids, ship_fails, shop, smooth


@pytest.mark.asyncio
async def test_an_order_goes_through_stock_payment_and_shipping() -> None:
    (oid,) = order_ids(smooth)
    async with shop() as s:
        await s.place(oid, "teapot")
        view = await s.final(oid)
        assert view.outcome == "completed"
        assert view.state["status"] == "completed"
        assert await s.types(f"order-{oid}") == ["orders.OrderPlaced", "orders.OrderCompleted"]
        assert await s.types(f"stock-{oid}") == ["orders.StockReserved"]
        assert await s.types(f"payment-{oid}") == ["orders.PaymentCharged"]
        assert await s.types(f"shipment-{oid}") == ["orders.OrderShipped"]
        steps = await s.admin.history("OrderFulfilment", oid)
        assert [x.handler for x in steps] == ["placed", "reserved", "charged", "shipped"]
        assert [x.published for x in steps][:3] == [
            ("stock.requests",),
            ("payments.requests",),
            ("shipping.requests",),
        ]


@pytest.mark.asyncio
async def test_out_of_stock_cancels_the_order() -> None:
    (oid,) = order_ids(smooth)
    async with shop() as s:
        await s.place(oid, "sold-out")
        view = await s.final(oid)
        assert (view.outcome, view.state["reason"]) == ("cancelled", "out of stock")
        assert await s.types(f"stock-{oid}") == ["orders.StockUnavailable"]
        assert await s.types(f"payment-{oid}") == []
        assert await s.types(f"order-{oid}") == ["orders.OrderPlaced", "orders.OrderCancelled"]


@pytest.mark.asyncio
async def test_a_declined_payment_releases_the_stock() -> None:
    (oid,) = order_ids(declined)
    async with shop() as s:
        await s.place(oid)
        view = await s.final(oid)
        assert (view.outcome, view.state["reason"]) == ("cancelled", "payment declined")
        await eventually(
            lambda: _has(s, f"stock-{oid}", "orders.StockReleased"), what="the release"
        )
        assert await s.types(f"stock-{oid}") == ["orders.StockReserved", "orders.StockReleased"]
        assert await s.types(f"payment-{oid}") == ["orders.PaymentDeclined"]


@pytest.mark.asyncio
async def test_a_failed_shipment_refunds_then_releases() -> None:
    (oid,) = order_ids(ship_fails)
    async with shop() as s:
        await s.place(oid)
        view = await s.final(oid)
        assert (view.outcome, view.state["reason"]) == ("cancelled", "shipping failed")
        last = (await s.admin.history("OrderFulfilment", oid))[-1]
        assert last.published == ("payments.requests", "stock.requests")  # newest first
        assert last.sent == ("CancelOrder",)
        await eventually(
            lambda: _has(s, f"stock-{oid}", "orders.StockReleased"), what="the release"
        )
        await eventually(
            lambda: _has(s, f"payment-{oid}", "orders.PaymentRefunded"), what="a refund"
        )
        assert await s.types(f"gateway-{oid}") == [
            "orders.GatewayCharged",
            "orders.GatewayRefunded",
        ]


@pytest.mark.asyncio
async def test_payments_wait_while_the_gateway_is_down_and_resume_after() -> None:
    ids = order_ids(smooth, 4)
    async with shop() as s:
        await set_outage(s.store, True, by="test")
        for oid in ids:
            await s.place(oid)

        async def opened() -> bool:
            return breaker.state is CircuitState.OPEN

        await eventually(opened, what="the breaker to open")
        assert await s.bus.dlq.list() == []
        letters_before = await s.store.streams("payment-")
        assert letters_before == []  # nothing was charged, nothing failed for good
        await set_outage(s.store, False, by="test")
        for oid in ids:
            view = await s.final(oid)
            assert view.outcome == "completed"
        assert breaker.state is CircuitState.CLOSED
        changes = [e.data["new"] async for e in s.store.read("gateway-breakers")]
        assert changes[:3] == ["open", "half_open", "closed"]
        assert await s.bus.dlq.list() == []


@pytest.mark.asyncio
async def test_a_payment_that_times_out_is_cancelled_and_a_late_charge_refunded() -> None:
    (oid,) = order_ids(smooth)
    async with shop() as s:
        await set_outage(s.store, True, by="test")
        await s.place(oid)

        async def charging() -> bool:
            view = await s.admin.instance("OrderFulfilment", oid)
            return view is not None and "payment" in view.deadlines

        await eventually(charging, what="the payment deadline")
        s.clock.advance(timedelta(seconds=OrderFulfilment.pay_timeout + 1))
        view = await s.final(oid)
        assert (view.outcome, view.state["reason"]) == ("cancelled", "payment timed out")
        await set_outage(s.store, False, by="test")
        await eventually(lambda: _has(s, f"payment-{oid}", "orders.PaymentVoided"), what="the void")
        await eventually(
            lambda: _has(s, f"stock-{oid}", "orders.StockReleased"), what="the release"
        )
        ledger = await s.types(f"gateway-{oid}")
        assert ledger.count("orders.GatewayCharged") <= 1
        if "orders.GatewayCharged" in ledger:  # the charge went through late: refunded
            assert ledger == ["orders.GatewayCharged", "orders.GatewayRefunded"]


@pytest.mark.asyncio
async def test_a_charge_is_made_once_even_when_its_request_comes_again() -> None:
    (oid,) = order_ids(smooth)
    async with shop() as s:
        await s.place(oid)
        await s.final(oid)
        for _ in range(3):  # the same request, delivered again (new message ids)
            await s.bus.publish(PAYMENTS, {"op": "charge", "order_id": oid, "amount": 900})
        await s.bus.publish(PAYMENTS, {"op": "refund", "order_id": oid})
        await s.bus.publish(PAYMENTS, {"op": "refund", "order_id": oid})
        await eventually(
            lambda: _has(s, f"payment-{oid}", "orders.PaymentRefunded"), what="a refund"
        )
        await s.bus.publish(PAYMENTS, {"op": "charge", "order_id": oid, "amount": 900})
        await s.quiet()
        ledger = Counter(await s.types(f"gateway-{oid}"))
        assert ledger == {"orders.GatewayCharged": 1, "orders.GatewayRefunded": 1}
        assert await s.types(f"payment-{oid}") == [
            "orders.PaymentCharged",
            "orders.PaymentRefunded",
        ]


async def _has(s: Shop, stream: str, kind: str) -> bool:
    return kind in await s.types(stream)


@pytest.mark.asyncio
async def test_the_load_driver_places_orders_on_running_services(tmp_path: Path) -> None:
    store, bus = f"sqlite:///{tmp_path}/e.db", f"sqlite:///{tmp_path}/b.db"
    breaker.reset()
    async with AsyncExitStack() as stack:
        shared_store = await stack.enter_async_context(await open_store(store))
        shared_bus = await stack.enter_async_context(await open_bus(bus))
        for app in SERVICES.values():
            await stack.enter_async_context(app.running(store=shared_store, bus=shared_bus))
        lines = await drive(20, store, bus, within=60)
    assert lines[0] == f"placed 20 orders on {store}"
    assert lines[1].startswith("20 of 20 orders reached a final state")
    assert lines[-1] == "charged twice: 0, lost (no final state): 0"
