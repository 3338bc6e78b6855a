"""Helpers of the orders demo's tests: the four services in one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from eventflux import EventStore, MessageBus, open_bus, open_store
from eventflux.demos.orders import SERVICES, PlaceOrder, orders
from eventflux.demos.orders.domain import Settings, deterministic_share
from eventflux.demos.orders.payments_app import breaker
from eventflux.sagas import ManualClock, SagaAdmin, SagaView

T = TypeVar("T")


def order_ids(predicate: Callable[[str], bool], count: int = 1, prefix: str = "t") -> list[str]:
    """The first ``count`` order ids ``t-0``, ``t-1``... that satisfy ``predicate``."""
    found = [f"{prefix}-{i}" for i in range(100_000) if predicate(f"{prefix}-{i}")]
    return found[:count]


DEFAULTS = Settings()


def declined(order_id: str) -> bool:
    return deterministic_share(order_id, "decline") < DEFAULTS.decline_rate


def ship_fails(order_id: str) -> bool:
    return deterministic_share(order_id, "shipping") < DEFAULTS.shipping_failure_rate


def smooth(order_id: str) -> bool:
    return not declined(order_id) and not ship_fails(order_id)


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 30.0, what: str = "it"
) -> T:
    give_up = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@dataclass
class Shop:
    store: EventStore
    bus: MessageBus
    clock: ManualClock

    @property
    def admin(self) -> SagaAdmin:
        return SagaAdmin(self.store, self.bus)

    async def place(self, order_id: str, sku: str = "mug") -> None:
        await orders.dispatch(PlaceOrder(order_id, sku))

    async def final(self, order_id: str, within: float = 30.0) -> SagaView:
        async def check() -> SagaView | None:
            view = await self.admin.instance("OrderFulfilment", order_id)
            return view if view is not None and view.finished else None

        return await eventually(check, within, f"order {order_id} to finish")

    async def quiet(self, within: float = 30.0) -> None:
        """Wait until no group has a message pending or in flight (twice in a row)."""
        calm = 0

        async def idle() -> bool:
            nonlocal calm
            busy = any(g.pending or g.in_flight for g in await self.bus.groups())
            calm = 0 if busy else calm + 1
            return calm >= 2

        await eventually(idle, within, "the services to be idle")

    async def types(self, stream: str) -> list[str]:
        return [e.type async for e in self.store.read(stream)]


@asynccontextmanager
async def shop() -> AsyncIterator[Shop]:
    """The four services on one in-memory store and bus, the saga on a manual clock."""
    breaker.reset()
    clock = ManualClock()
    orders.sagas.clock = clock
    store = await open_store("memory://")
    bus = await open_bus("memory://")
    try:
        async with AsyncExitStack() as stack:
            for app in SERVICES.values():
                await stack.enter_async_context(app.running(store=store, bus=bus))
            yield Shop(store, bus, clock)
    finally:
        await bus.close()
        await store.close()
        breaker.reset()
