"""A simulated payment provider, with the faults real ones have.

Each call takes ``latency`` seconds and a process makes ``slots`` calls at a
time (its connection pool); ``decline_rate`` of orders are declined (the same
orders every time); during an outage every call fails with
:class:`GatewayUnavailable`. Outages come from ``outages`` (windows in
seconds since the process started) or from the switch any process can flip
(:func:`set_outage`, what the demo page's button does), kept in the event
store so every payments process sees it.

Like real providers, it honours idempotency keys: a charge repeated with
the same key returns the first charge and moves no money. Its ledger (what
a provider's own database would hold) is the stream ``gateway-{order}``.

Example::

    gateway = PaymentGateway(store)            # the settings of domain.settings()
    charge = await gateway.charge("o-1", 900, key="o-1")
    if charge.declined: ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ...events import NewEvent, RecordedEvent
from ...exceptions import ConcurrencyError, EventfluxError
from ...store import EventStore
from .domain import Settings, deterministic_share, settings

__all__ = ["Charge", "GatewayUnavailable", "PaymentGateway", "outage_switch", "set_outage"]

#: The stream of the outage switch (events ``GatewayOutage`` ``{"down": bool}``).
CONTROL: Final = "gateway-control"
_SWITCH_CACHE: Final = 0.2


class GatewayUnavailable(EventfluxError):
    """The payment provider did not answer (an outage)."""


@dataclass(frozen=True, slots=True)
class Charge:
    """What the provider answered to a charge."""

    charge_id: str
    amount: int
    declined: bool
    replayed: bool = False


async def outage_switch(store: EventStore) -> bool:
    """True while the outage switch is on."""
    last = [e async for e in store.read(CONTROL, backwards=True, limit=1)]
    return bool(last and last[0].data.get("down"))


async def set_outage(store: EventStore, down: bool, *, by: str = "demo page") -> None:
    """Turn the simulated outage on or off (every payments process sees it)."""
    await store.append(CONTROL, [NewEvent("orders.GatewayOutage", {"down": bool(down), "by": by})])


class PaymentGateway:
    """The simulated provider, as one payments process talks to it."""

    def __init__(
        self,
        store: EventStore,
        fixed: Settings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._fixed = fixed
        self._clock = clock
        self._started = clock()
        self._slots = asyncio.Semaphore(max(1, self.settings.gateway_slots))
        self._switch = (False, -1.0)
        self.calls = 0

    @property
    def settings(self) -> Settings:
        """The settings given, else those of the process now."""
        return self._fixed or settings()

    async def down(self) -> bool:
        """True during an outage window or while the switch is on."""
        elapsed = self._clock() - self._started
        if any(start <= elapsed < end for start, end in self.settings.outages):
            return True
        value, read_at = self._switch
        now = self._clock()
        if now - read_at > _SWITCH_CACHE:
            value = await outage_switch(self.store)
            self._switch = (value, now)
        return value

    async def _call(self) -> None:
        async with self._slots:
            self.calls += 1
            await asyncio.sleep(self.settings.gateway_latency)
            if await self.down():
                raise GatewayUnavailable("the payment gateway did not answer (outage)")

    async def _ledger(self, order_id: str) -> list[RecordedEvent]:
        return [e async for e in self.store.read(f"gateway-{order_id}")]

    async def charge(self, order_id: str, amount: int, *, key: str) -> Charge:
        """Charge ``amount`` for ``order_id``; a repeated ``key`` returns the first
        charge. Raises :class:`GatewayUnavailable` during an outage."""
        await self._call()
        while True:
            ledger = await self._ledger(order_id)
            for e in ledger:
                if e.type == "orders.GatewayCharged" and e.data["key"] == key:
                    return Charge(e.data["charge_id"], e.data["amount"], e.data["declined"], True)
            declined = deterministic_share(order_id, "decline") < self.settings.decline_rate
            charge_id = f"ch_{order_id}_{len(ledger) + 1}"
            data = {
                "order_id": order_id,
                "key": key,
                "amount": amount,
                "charge_id": charge_id,
                "declined": declined,
                "worker": self.settings.worker,
            }
            try:
                await self.store.append(
                    f"gateway-{order_id}", [NewEvent("orders.GatewayCharged", data)], len(ledger)
                )
            except ConcurrencyError:
                continue  # a concurrent call with the same key: the ledger decides
            return Charge(charge_id, amount, declined)

    async def refund(self, order_id: str, charge_id: str, *, key: str) -> None:
        """Refund ``charge_id`` (a repeated ``key`` refunds once)."""
        await self._call()
        while True:
            ledger = await self._ledger(order_id)
            if any(e.type == "orders.GatewayRefunded" and e.data["key"] == key for e in ledger):
                return
            data = {"order_id": order_id, "key": key, "charge_id": charge_id}
            try:
                await self.store.append(
                    f"gateway-{order_id}", [NewEvent("orders.GatewayRefunded", data)], len(ledger)
                )
                return
            except ConcurrencyError:
                continue
