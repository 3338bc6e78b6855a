"""Demo: the founding document's smart home, as Home Assistant users know it.

Devices publish on the bus (``home.<room>.<device>.<event>``) and obey
commands; the hub records them in the event store, keeps their state in a
read model, and runs automations (triggers, conditions, actions, run modes)
whose timers, ``for:`` durations, delays and waits survive a restart, each
run recorded with its trigger, conditions and timed steps, so "why did the
hall light turn on at 02:13?" has an answer (:func:`explain`, ``eventflux
audit``, the dashboard's causal chain).

``eventflux.demos.smarthome:app`` is the hub App, ``:devices`` the device
simulator App (``eventflux serve`` runs both, with the page at
``/demos/smarthome/``); :func:`make_app` and :func:`make_devices` build them
on other URLs or settings; :func:`run` is the scripted evening of
``eventflux demo smarthome``. The rules engine is :mod:`.rules`.
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
    "apps",
    "devices",
    "engine_of",
    "explain",
    "make_app",
    "make_devices",
    "run",
    "simulator_of",
]

#: The hub App on the default URLs ($EVENTFLUX_STORE / $EVENTFLUX_BUS, else SQLite files).
app = make_app()
#: The device simulator App (with some activity, so the page lives).
devices = make_devices(activity=True)
#: The demo's other Apps, which ``eventflux serve`` runs beside ``app``.
apps = (devices,)
