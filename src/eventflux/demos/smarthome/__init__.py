"""Demo: the founding document's smart home, as Home Assistant users know it.

Devices publish on the bus (``home.<room>.<device>.<event>``) and obey
commands; the hub records them in the event store, keeps their state in a
read model, and runs automations (triggers, conditions, actions, run modes)
whose timers, ``for:`` durations, delays and waits survive a restart, each
run recorded with its trigger, conditions and timed steps, so "why did the
hall light turn on at 02:13?" has an answer (:func:`explain`, ``eventflux
audit``, the dashboard's causal chain).

``eventflux.demos.smarthome:app`` is the hub App with the simulated devices
(``eventflux serve`` serves it, with the page at ``/demos/smarthome/``);
``:hub`` and ``:devices`` are the two halves, to run as separate processes;
:func:`make_app` and :func:`make_devices` build them on other URLs or
settings; :func:`run` is the scripted evening of ``eventflux demo
smarthome``. The rules engine is :mod:`.rules`.
"""

from __future__ import annotations

from .app import AUTOMATIONS_FILE, engine_of, make_app
from .clock import Clock, FileClock, ManualClock, SystemClock
from .devices import CATALOG, HOUSE, Device
from .explain import Explanation, explain
from .queries import Explain, GetRun, ListAutomations, ListDevices, ListNotifications
from .scenario import TITLE, run
from .simulator import Simulator, make_devices, simulator_of

__all__ = [
    "AUTOMATIONS_FILE",
    "CATALOG",
    "HOUSE",
    "TITLE",
    "Clock",
    "Device",
    "Explain",
    "Explanation",
    "FileClock",
    "GetRun",
    "ListAutomations",
    "ListDevices",
    "ListNotifications",
    "ManualClock",
    "Simulator",
    "SystemClock",
    "app",
    "devices",
    "engine_of",
    "explain",
    "hub",
    "make_app",
    "make_devices",
    "run",
    "simulator_of",
]

#: The whole demo as one App on the default URLs ($EVENTFLUX_STORE /
#: $EVENTFLUX_BUS, else SQLite files): the hub with the simulated devices (and
#: someone walking about, so the page lives). ``eventflux serve`` serves it.
app = make_app(simulate=True)
#: The hub alone and the devices alone, to run as separate processes:
#: ``eventflux worker eventflux.demos.smarthome:hub`` and ``...:devices``.
hub = make_app()
devices = make_devices(activity=True)
