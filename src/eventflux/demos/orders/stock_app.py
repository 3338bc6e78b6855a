"""The ``stock`` service: reserves and releases units of a product.

Each product's level lives in its stream ``sku-{sku}`` (every event holds the
level after it); each order's reservation in ``stock-{order}``. Reserving
writes both in one transaction (``append_many``) with optimistic concurrency,
so two processes can never sell the same unit; a request handled again finds
its answer already recorded.

Run it alone with ``eventflux worker eventflux.demos.orders:stock``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from ...app import App, Context
from ...bus import Message
from ...events import NewEvent, RecordedEvent
from ...exceptions import ConcurrencyError
from ...store import NO_STREAM, EventStore
from .domain import CATALOG, STOCK, event_id

__all__ = ["stock"]

stock = App("stock")
_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def _last(store: EventStore, stream: str) -> RecordedEvent | None:
    found = [e async for e in store.read(stream, backwards=True, limit=1)]
    return found[0] if found else None


async def _level(store: EventStore, sku: str) -> tuple[int, int]:
    """``(units in stock, stream version)`` of ``sku``, stocking it on first use."""
    while True:
        last = await _last(store, f"sku-{sku}")
        if last is not None:
            return int(last.data["level"]), last.version
        units = CATALOG[sku][2]
        added = NewEvent("orders.StockAdded", {"sku": sku, "units": units, "level": units},
                         id=event_id("sku", sku, "opened"))  # fmt: skip
        try:
            await store.append(f"sku-{sku}", [added], expected_version=NO_STREAM)
        except ConcurrencyError:
            continue  # another process stocked it first


async def _history(store: EventStore, order_id: str) -> tuple[list[str], int]:
    events = [e async for e in store.read(f"stock-{order_id}")]
    return [e.type for e in events], len(events)


async def _reserve(store: EventStore, data: dict[str, Any], worker: str) -> None:
    order_id, sku, qty = data["order_id"], data["sku"], int(data["qty"])
    stream = f"stock-{order_id}"
    while True:
        done, version = await _history(store, order_id)
        if "orders.StockReserved" in done or "orders.StockUnavailable" in done:
            return  # answered before: a redelivery
        level, sku_version = await _level(store, sku) if sku in CATALOG else (0, 0)
        fact = {"order_id": order_id, "sku": sku, "qty": qty, "worker": worker}
        answer_id = event_id(order_id, "stock-answer")
        try:
            if level >= qty:
                units = NewEvent("orders.UnitsReserved", {**fact, "level": level - qty})
                answer = NewEvent("orders.StockReserved", fact, id=answer_id)
                await store.append_many(
                    {f"sku-{sku}": ([units], sku_version), stream: ([answer], version)}
                )
            else:
                fact["reason"] = "out of stock"
                await store.append(
                    stream, [NewEvent("orders.StockUnavailable", fact, id=answer_id)], version
                )
            return
        except ConcurrencyError:
            continue  # another reservation of this product came first: look again


async def _release(store: EventStore, data: dict[str, Any], worker: str) -> None:
    order_id = data["order_id"]
    stream = f"stock-{order_id}"
    while True:
        events = [e async for e in store.read(stream)]
        reserved = next((e for e in events if e.type == "orders.StockReserved"), None)
        if reserved is None or any(e.type == "orders.StockReleased" for e in events):
            return  # nothing reserved, or released before
        sku, qty = reserved.data["sku"], int(reserved.data["qty"])
        level, sku_version = await _level(store, sku)
        fact = {"order_id": order_id, "sku": sku, "qty": qty, "worker": worker}
        try:
            units = NewEvent("orders.UnitsReleased", {**fact, "level": level + qty})
            released = NewEvent("orders.StockReleased", fact, id=event_id(order_id, "released"))
            await store.append_many(
                {f"sku-{sku}": ([units], sku_version), stream: ([released], len(events))}
            )
            return
        except ConcurrencyError:
            continue


@stock.subscribe(STOCK, group="stock", max_deliver=20, backoff=(0.05, 2.0), ack_wait=5.0)
async def on_stock_request(msg: Message, ctx: Context) -> None:
    """``reserve`` or ``release`` the units of one order."""
    data = msg.data
    worker = ctx.app.name
    if data["op"] == "reserve":
        async with _locks[str(data["sku"])]:  # one reservation of a product at a time here
            await _reserve(ctx.store, data, worker)
    elif data["op"] == "release":
        await _release(ctx.store, data, worker)
