"""A whole smart home in one process: the hub and the devices on one store and bus.

:class:`SmartHome` runs both Apps with a shared clock, and can wait until
everything that was set in motion has happened (:meth:`SmartHome.settle`:
the bus delivered, the store recorded, the engine decided, the read models
caught up), move a manual clock by steps (:meth:`SmartHome.advance_to`)
and restart the hub (the engine resumes from the store). The scripted
evening, the tests and the docs drive the home through it.

Example::

    async with SmartHome.open(workdir, clock=ManualClock(start)) as home:
        await home.control("motion", entity_id="hall.motion")
        await home.advance(timedelta(minutes=6))
        print(await home.device("hall.light"))
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from ...app import App
from ...bus import MessageBus, open_bus
from ...store import EventStore, open_store
from .app import engine_of, make_app
from .clock import Clock, ManualClock
from .queries import ListDevices
from .rules.engine import RulesEngine
from .rules.model import Automation
from .simulator import make_devices

__all__ = ["SmartHome"]


class SmartHome:
    """The hub and the devices of one home, running."""

    def __init__(
        self,
        store: EventStore,
        bus: MessageBus,
        clock: Clock,
        hub_factory: Any,
        devices: App,
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self._hub_factory = hub_factory
        self.hub: App = hub_factory()
        self.devices = devices
        self._hub_stack: AsyncExitStack | None = None

    @property
    def engine(self) -> RulesEngine:
        return engine_of(self.hub)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        workdir: Path | None = None,
        *,
        clock: Clock | None = None,
        tz: tzinfo | str = "UTC",
        automations: Sequence[Automation | str | Path] | None = None,
        offline_after: timedelta = timedelta(seconds=90),
        heartbeat: float = 30.0,
        telemetry: bool = False,
        store: str | None = None,
        bus: str | None = None,
    ) -> AsyncIterator[SmartHome]:
        """Run a home on SQLite files in ``workdir`` (or in memory), until the block ends."""
        clock = clock or ManualClock()
        if workdir is not None:
            store = store or f"sqlite:///{workdir}/smarthome-events.db"
            bus = bus or f"sqlite:///{workdir}/smarthome-bus.db"
            read_model = f"sqlite:///{workdir}/smarthome-read.db"
        else:
            store, bus, read_model = store or "memory://", bus or "memory://", None

        def hub() -> App:
            return make_app(
                store=store,
                bus=bus,
                read_model=read_model,
                automations=automations,
                clock=clock,
                tz=tz,
                offline_after=offline_after,
            )

        devices = make_devices(clock=clock, heartbeat=heartbeat, telemetry=telemetry)
        async with await open_store(store) as s, await open_bus(bus) as b:
            home = cls(s, b, clock, hub, devices)
            try:
                await home.start_hub()
                async with devices.running(store=s, bus=b):
                    await home.settle()
                    yield home
            finally:
                await home.stop_hub()

    async def start_hub(self) -> None:
        stack = AsyncExitStack()
        await stack.enter_async_context(self.hub.running(store=self.store, bus=self.bus))
        self._hub_stack = stack
        await self.engine.wait_ready()

    async def stop_hub(self) -> None:
        if self._hub_stack is not None:
            stack, self._hub_stack = self._hub_stack, None
            await stack.aclose()

    async def restart_hub(self) -> None:
        """Stop the hub and start a new one (a new engine reads its state back)."""
        await self.stop_hub()
        self.hub = self._hub_factory()
        await self.start_hub()

    async def settle(self) -> None:
        """Wait until nothing moves: bus delivered, engine idle, read models
        current (at most 30 s: then TimeoutError)."""
        async with asyncio.timeout(30.0):
            stable, last = 0, -1
            while stable < 3:
                await self.engine.settle(self.store)
                await self.hub.settle()
                busy = any(g.pending or g.in_flight for g in await self.bus.groups())
                position = await self.store.last_position()
                stable = stable + 1 if not busy and position == last else 0
                last = position
                await asyncio.sleep(0.005)

    async def advance(self, by: timedelta, *, step: timedelta = timedelta(seconds=30)) -> None:
        """Move a manual clock forward in steps, settling after each."""
        await self.advance_to(self.clock.now() + by, step=step)

    async def advance_to(self, when: datetime, *, step: timedelta = timedelta(seconds=30)) -> None:
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise TypeError("advance needs a ManualClock")
        while clock.now() < when:
            target = min(when, clock.now() + step)
            session = self.engine.session
            due = None if session is None else session.timers.next_due()
            if due is not None and clock.now() < due < target:
                target = due  # stop at the engine's timers: their steps happen on time
            await clock.set(target)
            await self.settle()

    async def control(self, what: str, **data: Any) -> None:
        """A simulator control (``motion``, ``door``, ``power``...), then settle."""
        await self.bus.publish(f"smarthome.sim.{what}", data)
        await self.settle()

    async def command(self, entity_id: str, command: str, **data: Any) -> None:
        """A command to a device, as a person at a wall switch would send it."""
        room, _, device = entity_id.partition(".")
        await self.bus.publish(
            f"home.{room}.{device}.command", {"command": command, **data}, key=entity_id
        )
        await self.settle()

    async def device(self, entity_id: str) -> dict[str, Any] | None:
        """A device's row of the device-state read model."""
        rows = await self.hub.ask(ListDevices())
        return next((r for r in rows if r["entity_id"] == entity_id), None)
