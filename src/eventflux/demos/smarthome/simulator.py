"""The device simulator App: a home of devices talking on the bus.

Each device publishes on ``home.<room>.<device>.<event>``: ``state`` when it
changed (after a command too: it confirms it), ``motion`` and ``contact``
for the sensors, ``temperature`` for the thermostat, ``power`` for the energy
meter, and a ``heartbeat`` every ``heartbeat`` seconds. Commands arrive on
``home.<room>.<device>.command`` (``{"command": "turn_on", "brightness": 80}``).
A device without power says nothing and hears nothing: the hub marks it
offline once its heartbeats stop, and it announces itself when it is back.

The page and the scripted evening drive it through control messages on
``smarthome.sim.<what>``: ``motion`` (``entity_id``), ``door``
(``entity_id``, ``open``), ``power`` (``on``: a power failure when false),
``unplug`` (``entity_id``, ``on``), ``intruder`` (someone comes in by the front
door), ``spike`` (``watts`` more on the energy meter), ``temperature``
(``entity_id``, ``value``).

Example::

    devices = make_devices(clock=ManualClock(), heartbeat=30.0)
    async with devices.running(store=store, bus=bus):
        await bus.publish("smarthome.sim.motion", {"entity_id": "hall.motion"})
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from ...app import App, Context
from ...bus import Message, MessageBus, OutgoingMessage
from .clock import Clock, SystemClock
from .devices import HOUSE, Device, DeviceCommandError, house

__all__ = ["Simulator", "install_simulator", "make_devices", "simulator_of"]

log = logging.getLogger("eventflux.demos.smarthome")


class Simulator:
    """The devices of one home and what drives them."""

    def __init__(
        self,
        layout: tuple[tuple[str, str, str], ...] = HOUSE,
        *,
        clock: Clock | None = None,
        heartbeat: float = 30.0,
        motion_clear: float = 60.0,
        telemetry: bool = True,
        activity: bool = False,
        seed: int | None = None,
    ) -> None:
        self.layout = layout
        self.clock: Clock = clock or SystemClock()
        self.heartbeat = heartbeat
        self.motion_clear = motion_clear
        self.telemetry = telemetry
        self.activity = activity
        self.random = random.Random(seed)
        self.devices: dict[str, Device] = house(layout)
        self.spike = 0.0
        self._clearing: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        """Every device as new (a new run of the App starts from here)."""
        self.devices = house(self.layout)
        self.spike = 0.0

    # -- publishing ------------------------------------------------------------------------
    async def say(self, bus: MessageBus, device: Device, event: str, **extra: Any) -> None:
        """Publish one event of ``device`` (nothing when it has no power)."""
        if device.powered:
            payload = {**device.payload(self.clock.now()), **extra}
            await bus.publish(device.subject(event), payload, key=device.entity_id)

    async def announce(self, bus: MessageBus, devices: list[Device] | None = None) -> None:
        """Every powered device says its state (on start, after a power cut)."""
        now = self.clock.now()
        await bus.publish_many(
            [
                OutgoingMessage(d.subject("state"), d.payload(now), None, d.entity_id, None)
                for d in devices or self.devices.values()
                if d.powered
            ]
        )

    async def heartbeats(self, bus: MessageBus) -> None:
        now = self.clock.now()
        messages = [
            OutgoingMessage(d.subject("heartbeat"), d.payload(now), None, d.entity_id, None)
            for d in self.devices.values()
            if d.powered
        ]
        if messages:
            await bus.publish_many(messages)

    # -- commands ----------------------------------------------------------------------------
    async def on_command(self, bus: MessageBus, msg: Message) -> None:
        """A command for a device: obey it and confirm with a ``state`` event."""
        parts = msg.subject.split(".")
        device = self.devices.get(f"{parts[1]}.{parts[2]}") if len(parts) == 4 else None
        if device is None or not device.powered:
            return  # nobody there to hear it
        data = dict(msg.data) if isinstance(msg.data, Mapping) else {}
        if isinstance(data.get("data"), Mapping):  # sent by an automation: its data apart
            data.update(data.pop("data"))
        try:
            device.command(str(data.get("command")), data)
        except DeviceCommandError as e:
            log.warning("device %s refused %s: %s", device.entity_id, data, e)
            await self.say(bus, device, "state", error=str(e))
            return
        await self.say(bus, device, "state")

    # -- controls (the page, the scripted evening) ----------------------------------------------
    async def on_control(self, bus: MessageBus, msg: Message) -> None:
        what = msg.subject.rsplit(".", 1)[-1]
        data = msg.data if isinstance(msg.data, Mapping) else {}
        device = self.devices.get(str(data.get("entity_id")))
        if what == "motion" and device is not None and device.kind == "motion":
            await self.motion(bus, device)
        elif what == "door" and device is not None and device.kind == "contact":
            device.set("open" if data.get("open", True) else "closed")
            await self.say(bus, device, "contact")
        elif what == "power":
            await self.power(bus, bool(data.get("on", True)))
        elif what == "unplug" and device is not None:
            await self.plug(bus, device, bool(data.get("on", False)))
        elif what == "intruder":
            self._spawn(self.intruder(bus))
        elif what == "spike":
            self.spike = float(data.get("watts", 3000))
            await self.meter(bus)
        elif what == "temperature" and device is not None and device.kind == "thermostat":
            device.set(device.state, current_temperature=float(data.get("value", 20)))
            await self.say(bus, device, "temperature")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def motion(self, bus: MessageBus, sensor: Device) -> None:
        """Someone moves in front of ``sensor``: ``on`` now, ``off`` after a quiet minute."""
        sensor.set("on")
        await self.say(bus, sensor, "motion")
        old = self._clearing.pop(sensor.entity_id, None)
        if old is not None:
            old.cancel()
        due = self.clock.now() + timedelta(seconds=self.motion_clear)

        async def clear() -> None:
            await self.clock.sleep_until(due)
            sensor.set("off")
            await self.say(bus, sensor, "motion")

        task = asyncio.get_running_loop().create_task(clear())
        self._clearing[sensor.entity_id] = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def power(self, bus: MessageBus, on: bool) -> None:
        """A power failure (``on`` False): every device goes quiet; when the
        power is back, lights are off and every device announces itself."""
        for device in self.devices.values():
            device.powered = on
            if on and device.kind == "light":
                device.set("off", brightness=0)
        if on:
            await self.announce(bus)

    async def plug(self, bus: MessageBus, device: Device, on: bool) -> None:
        device.powered = on
        if on:
            await self.announce(bus, [device])

    async def intruder(self, bus: MessageBus) -> None:
        """Someone comes in by the front door and walks through the house."""
        steps: list[tuple[float, str, str]] = [
            (0, "front.door", "open"),
            (2, "hall.motion", "motion"),
            (4, "living.motion", "motion"),
            (8, "kitchen.motion", "motion"),
        ]
        start = self.clock.now()
        for offset, entity_id, what in steps:
            await self.clock.sleep_until(start + timedelta(seconds=offset))
            device = self.devices.get(entity_id)
            if device is None:
                continue
            if what == "open":
                device.set("open")
                await self.say(bus, device, "contact")
            else:
                await self.motion(bus, device)

    # -- telemetry -------------------------------------------------------------------------------
    async def meter(self, bus: MessageBus) -> None:
        lights = sum(1 for d in self.devices.values() if d.kind == "light" and d.state == "on")
        heating = any(
            d.kind == "thermostat"
            and d.state == "heat"
            and d.attributes["current_temperature"] < d.attributes["setpoint"]
            for d in self.devices.values()
        )
        for device in self.devices.values():
            if device.kind == "energy":
                watts = 280 + 60 * lights + (1800 if heating else 0) + self.spike
                watts += self.random.uniform(-15, 15)
                kwh = device.attributes["energy_kwh"] + watts / 1000 / 360
                device.set(round(watts, 1), energy_kwh=round(kwh, 3))
                await self.say(bus, device, "power")
        self.spike = 0.0

    async def thermostats(self, bus: MessageBus) -> None:
        for device in self.devices.values():
            if device.kind != "thermostat":
                continue
            now_t = float(device.attributes["current_temperature"])
            target = float(device.attributes["setpoint"]) if device.state == "heat" else 17.0
            if device.state == "eco":
                target = 17.0
            step = 0.2 if target > now_t else -0.1
            if abs(target - now_t) > 0.1:
                device.set(device.state, current_temperature=round(now_t + step, 1))
                await self.say(bus, device, "temperature")

    async def run(self, bus: MessageBus) -> None:
        """Announce every device, then heartbeats and telemetry, until cancelled."""
        await self.announce(bus)
        due = {
            "heartbeat": self.clock.now(),
            "meter": self.clock.now(),
            "thermostat": self.clock.now(),
            "activity": self.clock.now(),
        }
        periods = {"heartbeat": self.heartbeat, "meter": 10.0, "thermostat": 60.0, "activity": 45.0}
        try:
            while True:
                now = self.clock.now()
                for name, when in due.items():
                    if when > now:
                        continue
                    due[name] = now + timedelta(seconds=periods[name])
                    if name == "heartbeat":
                        await self.heartbeats(bus)
                    elif self.telemetry and name == "meter":
                        await self.meter(bus)
                    elif self.telemetry and name == "thermostat":
                        await self.thermostats(bus)
                    elif self.activity and name == "activity":
                        await self.wander(bus)
                await self.clock.sleep_until(min(due.values()))
        finally:
            for task in list(self._background):
                task.cancel()

    async def wander(self, bus: MessageBus) -> None:
        """Somebody walks into a random room now and then (``activity=True``)."""
        sensors = [d for d in self.devices.values() if d.kind == "motion"]
        if sensors and self.random.random() < 0.5:
            await self.motion(bus, self.random.choice(sensors))


def make_devices(
    *,
    store: str | None = None,
    bus: str | None = None,
    clock: Clock | None = None,
    layout: tuple[tuple[str, str, str], ...] = HOUSE,
    heartbeat: float = 30.0,
    motion_clear: float = 60.0,
    telemetry: bool = True,
    activity: bool = False,
    seed: int | None = None,
) -> App:
    """The device simulator as an App (``smarthome-devices``)."""
    sim = Simulator(
        layout,
        clock=clock,
        heartbeat=heartbeat,
        motion_clear=motion_clear,
        telemetry=telemetry,
        activity=activity,
        seed=seed,
    )
    app = App("smarthome-devices", store=store, bus=bus)
    install_simulator(app, sim)
    return app


def install_simulator(app: App, sim: Simulator) -> None:
    """Run ``sim``'s devices in ``app``: its command and control subscribers
    (groups ``smarthome-devices`` and ``smarthome-sim``) and its task."""
    SIMULATORS[app] = sim

    @app.subscribe("home.*.*.command", group="smarthome-devices")
    async def on_command(msg: Message, ctx: Context) -> None:
        await sim.on_command(ctx.bus, msg)

    @app.subscribe("smarthome.sim.>", group="smarthome-sim")
    async def on_control(msg: Message, ctx: Context) -> None:
        await sim.on_control(ctx.bus, msg)

    @app.task
    async def devices(ctx: Context) -> None:
        sim.reset()
        await sim.run(ctx.bus)


#: the simulator of each devices App
SIMULATORS: WeakKeyDictionary[App, Simulator] = WeakKeyDictionary()


def simulator_of(app: App) -> Simulator:
    """The :class:`Simulator` behind a devices App."""
    return SIMULATORS[app]
