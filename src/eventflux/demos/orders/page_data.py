"""What the orders page shows and does, as plain async functions of the
running ``orders`` App (the web adapter in :mod:`.web` turns them into JSON
routes).

Example::

    async with orders.running():
        await place(orders, {"sku": "mug", "qty": 1, "customer": "ann"})
        print(await recent_orders(orders))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from ..._internal.ids import new_id
from ...app import App
from ...events import RecordedEvent
from ...exceptions import DomainError, EventfluxError
from ...sagas import SagaAdmin
from ...store import EventStore
from .domain import CATALOG, PlaceOrder
from .gateway import outage_switch, set_outage

__all__ = [
    "BadRequest",
    "gateway_state",
    "order_detail",
    "page_context",
    "place",
    "place_load",
    "recent_orders",
    "switch_gateway",
    "template_context",
]

SAGA: Final = "OrderFulfilment"
MAX_LOAD: Final = 2000
#: How far back (in events) the page looks for recent orders.
_WINDOW: Final = 20_000
_SOURCES: Final = {
    "order": "orders",
    "stock": "stock",
    "payment": "payments",
    "shipment": "shipping",
    "gateway": "gateway",
    "saga": "saga",
}


class BadRequest(EventfluxError, ValueError):
    """The page sent something the demo cannot do (answered with a 400)."""


def template_context(base: str) -> dict[str, Any]:
    """What the page's template needs: the catalogue, and ``base``, the page's
    own path with a final ``/`` (its JSON routes are relative to it)."""
    catalog = [
        {"sku": sku, "name": name, "price": price, "stock": units}
        for sku, (name, price, units) in CATALOG.items()
    ]
    return {"catalog": catalog, "base": base.rstrip("/") + "/", "max_load": MAX_LOAD}


def page_context(app: Any = None, request: Any = None) -> dict[str, Any]:
    """The page's template variables as a server asks for them (the ``context``
    of ``app.page``, called with nothing, the App, or the App and the request):
    ``base`` is the path the page was asked at, else ``/demos/orders/``."""
    path = str(request.url.path) if request is not None else "/demos/orders/"
    return template_context(path)


def _text(body: Mapping[str, Any], key: str, default: str, limit: int = 80) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadRequest(f"{key} must be a non-empty string of at most {limit} characters")
    return value.strip()


def _count(body: Mapping[str, Any], key: str, default: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise BadRequest(f"{key} must be a whole number from 1 to {high}")
    return value


async def place(app: App, body: Mapping[str, Any]) -> dict[str, Any]:
    """Place one order from the page's form: ``{"sku", "qty", "customer"}``."""
    sku = _text(body, "sku", "mug")
    qty = _count(body, "qty", 1, 99)
    customer = _text(body, "customer", "web")
    order_id = "w-" + new_id()[:8]
    try:
        await app.dispatch(PlaceOrder(order_id, sku, qty, customer), metadata={"actor": customer})
    except DomainError as e:
        raise BadRequest(str(e)) from e
    return {"order_id": order_id}


async def place_load(app: App, body: Mapping[str, Any]) -> dict[str, Any]:
    """Place ``n`` orders at once (a mix of products), as customer ``load``."""
    n = _count(body, "n", 50, MAX_LOAD)
    run = new_id()[:6]
    skus = ["mug", "teapot", "kettle"] * 6 + ["rare-print", "sold-out"]
    for i in range(n):
        await app.dispatch(
            PlaceOrder(f"l{run}-{i:04d}", skus[i % len(skus)], 1, "load"),
            metadata={"actor": "load"},
        )
    return {"placed": n}


def _row(view: Any, placed: RecordedEvent) -> dict[str, Any]:
    state = dict(view.state) if view is not None else {}
    status = state.get("status", "placed")
    return {
        "order_id": placed.data["order_id"],
        "sku": placed.data["sku"],
        "qty": placed.data["qty"],
        "amount": placed.data["amount"],
        "customer": placed.data.get("customer"),
        "status": status,
        "outcome": view.outcome if view is not None else None,
        "reason": state.get("reason"),
        "placed_at": placed.recorded_at.isoformat(),
        "updated_at": view.updated_at.isoformat() if view and view.updated_at else None,
        "correlation_id": placed.correlation_id,
        "steps": view.version if view is not None else 0,
    }


async def _recent_placed(store: EventStore, limit: int) -> list[RecordedEvent]:
    head = await store.last_position()
    placed = [
        e async for e in store.read_all(after=max(0, head - _WINDOW), types=["orders.OrderPlaced"])
    ]
    return placed[-limit:][::-1]


async def recent_orders(app: App, limit: int = 30) -> dict[str, Any]:
    """The newest orders with their saga's status, and counts by status."""
    admin = SagaAdmin(app.store)
    rows = []
    for placed in await _recent_placed(app.store, limit):
        view = await admin.instance(SAGA, placed.data["order_id"])
        rows.append(_row(view, placed))
    counts = Counter(r["status"] for r in rows)
    return {"orders": rows, "counts": dict(counts)}


def _describe(e: RecordedEvent) -> str:
    data = e.data if isinstance(e.data, Mapping) else {}
    if e.stream.startswith("saga-"):
        source = data.get("input") or {}
        parts = [f"on {source.get('kind')} {source.get('name')}"]
        for out in data.get("out") or []:
            if out.get("kind") == "publish":
                parts.append(f"asks {out['subject']} to {out['data'].get('op')}")
            else:
                parts.append(f"sends {str(out.get('type', '')).rpartition(':')[2]}")
        if data.get("deadlines"):
            parts.append("deadline " + ", ".join(data["deadlines"]))
        if data.get("finished"):
            parts.append(f"finished: {data.get('outcome')}")
        return "; ".join(parts)
    bits = [f"{k} {data[k]}" for k in ("reason", "worker", "charge_id", "sku") if data.get(k)]
    return ", ".join(bits)


async def order_detail(app: App, order_id: str) -> dict[str, Any] | None:
    """One order's saga state and its timeline across services (None if unknown)."""
    store = app.store
    placed = [e async for e in store.read(f"order-{order_id}", limit=1)]
    if not placed or placed[0].type != "orders.OrderPlaced":
        return None
    view = await SagaAdmin(store).instance(SAGA, order_id)
    events: list[RecordedEvent] = []
    for stream in (
        f"order-{order_id}",
        f"saga-{SAGA}-{order_id}",
        f"stock-{order_id}",
        f"payment-{order_id}",
        f"gateway-{order_id}",
        f"shipment-{order_id}",
    ):
        events += [e async for e in store.read(stream)]
    events.sort(key=lambda e: e.position)
    timeline = [
        {
            "at": e.recorded_at.isoformat(),
            "service": _SOURCES.get(e.stream.partition("-")[0], e.stream),
            "type": e.type,
            "detail": _describe(e),
            "position": e.position,
        }
        for e in events
    ]
    row = _row(view, placed[0])
    row["deadlines"] = (
        {n: d.isoformat() for n, d in view.deadlines.items()} if view is not None else {}
    )
    row["timeline"] = timeline
    row["trace"] = f"/trace?correlation_id={row['correlation_id']}"
    return row


async def gateway_state(app: App) -> dict[str, Any]:
    """The outage switch and the last recorded state of each payments
    process's circuit breaker."""
    store = app.store
    latest: dict[str, dict[str, Any]] = {}
    async for e in store.read("gateway-breakers", backwards=True, limit=500):
        worker = str(e.data.get("worker"))
        if worker not in latest:
            latest[worker] = {
                "worker": worker,
                "state": e.data.get("new"),
                "reason": e.data.get("reason"),
                "at": e.recorded_at.isoformat(),
            }
    breakers = sorted(latest.values(), key=lambda b: str(b["worker"]))
    return {"down": await outage_switch(store), "breakers": breakers}


async def switch_gateway(app: App, body: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the simulated gateway outage on or off: ``{"down": true}``."""
    down = body.get("down")
    if not isinstance(down, bool):
        raise BadRequest("down must be true or false")
    await set_outage(app.store, down, by="demo page")
    return {"down": down}
