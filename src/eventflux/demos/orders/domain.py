"""The orders demo's shared vocabulary: commands, event types, subjects,
the catalogue, and the settings every service reads from the environment.

The four services (``orders``, ``stock``, ``payments``, ``shipping``) share
one event store and one message bus. Requests travel on the bus, one subject
per service, keyed by order id (so the requests of one order are handled in
order); each service records its answer as an event in the store, in a
stream of its own (``stock-{order}``, ``payment-{order}``,
``shipment-{order}``), where the fulfilment saga picks it up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import uuid
from dataclasses import dataclass
from typing import Any, Final

from ...events import RecordedEvent

__all__ = [
    "CATALOG",
    "CancelOrder",
    "CompleteOrder",
    "PlaceOrder",
    "Settings",
    "configure",
    "deterministic_share",
    "event_id",
    "order_id_of",
    "settings",
]

#: The subjects of the services' requests (``{"op": ..., "order_id": ...}``).
STOCK: Final = "stock.requests"
PAYMENTS: Final = "payments.requests"
SHIPPING: Final = "shipping.requests"

#: sku -> (name, price in cents, units in stock at the start)
CATALOG: Final[dict[str, tuple[str, int, int]]] = {
    "mug": ("Blue mug", 900, 1_000_000),
    "teapot": ("Cast-iron teapot", 4500, 1_000_000),
    "kettle": ("Electric kettle", 3900, 1_000_000),
    "rare-print": ("Signed print (3 made)", 25000, 3),
    "sold-out": ("Last season's scarf", 1900, 0),
}

_NAMESPACE: Final = uuid.UUID("5f1e0c8e-9a61-4d5b-8f3c-0b8f6a3c2d71")


@dataclass(frozen=True)
class PlaceOrder:
    """Place an order: ``qty`` units of ``sku`` for ``customer``."""

    order_id: str
    sku: str = "mug"
    qty: int = 1
    customer: str = "anonymous"


@dataclass(frozen=True)
class CompleteOrder:
    order_id: str


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str


def order_id_of(e: RecordedEvent) -> str:
    """The order an event is about (every event of the demo carries it)."""
    return str(e.data["order_id"])


def event_id(*parts: object) -> uuid.UUID:
    """A deterministic event id: writing the same fact twice stores it once."""
    return uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts))


def deterministic_share(order_id: str, salt: str) -> float:
    """A number in [0, 1) fixed by the order id: the same order is always
    declined (or not), so a redelivered request gets the same answer."""
    digest = hashlib.sha256(f"{salt}|{order_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass(frozen=True)
class Settings:
    """The demo's knobs, read from the environment when a service starts.

    ``ORDERS_GATEWAY_LATENCY`` (seconds per charge, default 0.02),
    ``ORDERS_DECLINE_RATE`` (0.05), ``ORDERS_GATEWAY_OUTAGES`` (windows in
    seconds since the payments process started, ``"5-10,30-35"``),
    ``ORDERS_GATEWAY_SLOTS`` (charges one payments process makes at a time,
    1), ``ORDERS_PAY_TIMEOUT`` (seconds the saga waits for a payment, 30),
    ``ORDERS_SHIPPING_FAILURE_RATE`` (0.02), ``ORDERS_BREAKER_RESET``
    (seconds an open breaker waits before a trial call, 2),
    ``EVENTFLUX_WORKER_NAME`` (how a process signs its work; default its pid).
    """

    gateway_latency: float = 0.02
    decline_rate: float = 0.05
    outages: tuple[tuple[float, float], ...] = ()
    gateway_slots: int = 1
    pay_timeout: float = 30.0
    shipping_failure_rate: float = 0.02
    breaker_reset: float = 2.0
    worker: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        windows: list[tuple[float, float]] = []
        for part in os.environ.get("ORDERS_GATEWAY_OUTAGES", "").split(","):
            if part.strip():
                start, _, end = part.partition("-")
                windows.append((float(start), float(end)))
        return cls(
            gateway_latency=_float("ORDERS_GATEWAY_LATENCY", 0.02),
            decline_rate=_float("ORDERS_DECLINE_RATE", 0.05),
            outages=tuple(windows),
            gateway_slots=int(_float("ORDERS_GATEWAY_SLOTS", 1)),
            pay_timeout=_float("ORDERS_PAY_TIMEOUT", 30.0),
            shipping_failure_rate=_float("ORDERS_SHIPPING_FAILURE_RATE", 0.02),
            breaker_reset=_float("ORDERS_BREAKER_RESET", 2.0),
            worker=os.environ.get("EVENTFLUX_WORKER_NAME") or f"pid-{os.getpid()}",
        )


_current: Settings | None = None


def settings() -> Settings:
    """The settings the services use now (read from the environment once)."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def configure(**changes: Any) -> Settings:
    """Change some settings of the services in this process (tests, embedding).

    Example::

        configure(decline_rate=0.0, gateway_latency=0.05)
    """
    global _current
    _current = dataclasses.replace(settings(), **changes)
    return _current


def request(op: str, order_id: str, **data: Any) -> dict[str, Any]:
    """A request to a service: ``{"op": op, "order_id": ..., ...}``."""
    return {"op": op, "order_id": order_id, **data}
