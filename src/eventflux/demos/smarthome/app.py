"""The smart-home hub App: records the devices, keeps their state, runs the rules.

``make_app()`` builds the App ``smarthome``:

- a recorder (bus group ``smarthome-recorder``) storing every device message
  of ``home.>`` as an event of the device's stream (:mod:`.recorder`);
- the projections ``smarthome-devices`` (device states) and
  ``smarthome-runs`` (every automation run, every notification) (:mod:`.views`);
- the rules engine (:mod:`.rules`) with the shipped automations
  (``automations.yaml`` beside this module) or yours, and its outbox: the
  commands, events and notifications the runs record are published on
  ``home.<room>.<device>.command``, their own subject and
  ``smarthome.notify.<target>``, at least once;
- queries (:class:`ListDevices`, :class:`ListAutomations`,
  :class:`GetRun`, :class:`ListNotifications`, :class:`Explain`) and the page.

The devices are another App (:func:`~.simulator.make_devices`).

Example::

    hub, devices = make_app(store="memory://", bus="memory://"), make_devices()
    async with await open_store("memory://") as store, await open_bus("memory://") as bus:
        async with hub.running(store=store, bus=bus), devices.running(store=store, bus=bus):
            ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, Final
from weakref import WeakKeyDictionary

from ...app import App, Context
from ...bus import Message
from ...bus.outbox import OutboxRelay
from ...events import RecordedEvent
from . import recorder
from .clock import Clock
from .devices import CATALOG, HOUSE
from .explain import Explanation, explain, outbox_subject, run_steps
from .page import install_page
from .queries import Explain, GetRun, ListAutomations, ListDevices, ListNotifications
from .rules.engine import RulesEngine
from .rules.journal import OUTBOX_TYPES, RUN_PREFIX
from .rules.model import Automation
from .rules.parse import load_automations_file
from .simulator import Simulator, install_simulator
from .views import AutomationRuns, DeviceStates, decode_row

__all__ = [
    "AUTOMATIONS_FILE",
    "Explain",
    "GetRun",
    "ListAutomations",
    "ListDevices",
    "ListNotifications",
    "engine_of",
    "make_app",
]

#: the shipped automations
AUTOMATIONS_FILE: Final = Path(__file__).with_name("automations.yaml")


_ENGINES: WeakKeyDictionary[App, RulesEngine] = WeakKeyDictionary()


def engine_of(app: App) -> RulesEngine:
    """The rules engine of a hub App."""
    return _ENGINES[app]


def _automations(source: Iterable[Automation | str | Path] | None) -> list[Automation]:
    entities = {f"{room}.{name}" for room, name, _ in HOUSE}
    items: list[Automation | str | Path] = [AUTOMATIONS_FILE] if source is None else list(source)
    out: list[Automation] = []
    for item in items:
        if isinstance(item, Automation):
            out.append(item)
        else:
            out += load_automations_file(item, entities=entities, catalog=CATALOG)
    return out


def make_app(
    *,
    store: str | None = None,
    bus: str | None = None,
    read_model: str | None = None,
    automations: Sequence[Automation | str | Path] | None = None,
    clock: Clock | None = None,
    tz: tzinfo | str | None = None,
    offline_after: timedelta = timedelta(seconds=90),
    checkpoint_every: int = 10_000,
    recorder_concurrency: int = 64,
    simulate: bool = False,
    activity: bool = True,
) -> App:
    """The hub as an :class:`~eventflux.App` named ``smarthome``.

    ``automations``: Automation objects and YAML files (default: the shipped
    ``automations.yaml``); ``clock`` and ``tz``: the engine's time; a device
    silent for ``offline_after`` is marked offline. ``simulate``: the App runs
    the simulated devices too (someone walks about if ``activity``), so one
    App serves the whole demo; else they are the App of
    :func:`~.simulator.make_devices`.
    """
    app = App("smarthome", store=store, bus=bus, read_model=read_model)
    engine = RulesEngine(
        _automations(automations),
        clock=clock,
        tz=tz,
        offline_after=offline_after,
        checkpoint_every=checkpoint_every,
    )
    _ENGINES[app] = engine
    app.projection(DeviceStates)
    app.projection(AutomationRuns)

    @app.subscribe("home.>", group="smarthome-recorder", concurrency=recorder_concurrency)
    async def record(msg: Message, ctx: Context) -> None:
        await recorder.record(ctx.store, msg)

    @app.task
    async def rules(ctx: Context) -> None:
        """The rules engine: follows the device streams, runs the automations."""
        await engine.run(ctx.store)

    @app.task
    async def outbox(ctx: Context) -> None:
        """What the runs recorded to send, onto the bus (at least once)."""
        relay = OutboxRelay(
            ctx.store,
            ctx.bus,
            subject=_subject,
            key=_key,
            name="smarthome-outbox",
            types=OUTBOX_TYPES,
            stream_prefix=RUN_PREFIX,
        )
        relay.start()
        try:
            await asyncio.Event().wait()  # until the App stops
        finally:
            await relay.stop()  # the batch in flight goes out, the checkpoint is saved

    @app.query(ListDevices)
    async def list_devices(q: ListDevices, ctx: Context) -> list[dict[str, Any]]:
        rows = await ctx.read_model.fetch_all(
            "SELECT * FROM smarthome_devices ORDER BY room, device"
        )
        return [decode_row(r) for r in rows]

    @app.query(ListAutomations)
    async def list_automations(q: ListAutomations, ctx: Context) -> list[dict[str, Any]]:
        status: list[dict[str, Any]] = engine.status()["automations"]
        rows = await ctx.read_model.fetch_all(
            "SELECT r.* FROM smarthome_runs r JOIN (SELECT automation_id, max(position) AS p "
            "FROM smarthome_runs GROUP BY automation_id) last "
            "ON r.automation_id = last.automation_id AND r.position = last.p"
        )
        counts = await ctx.read_model.fetch_all(
            "SELECT automation_id, count(*) AS runs FROM smarthome_runs GROUP BY automation_id"
        )
        last = {r["automation_id"]: dict(r) for r in rows}
        runs = {r["automation_id"]: int(r["runs"]) for r in counts}
        for item in status:
            item["last_run"] = last.get(item["id"])
            item["runs"] = runs.get(item["id"], 0)
        return status

    @app.query(GetRun)
    async def get_run(q: GetRun, ctx: Context) -> dict[str, Any] | None:
        row = await ctx.read_model.fetch_one(
            "SELECT stream FROM smarthome_runs WHERE run_id = :run_id", {"run_id": q.run_id}
        )
        if row is None:
            return None
        return await run_steps(ctx.store, str(row["stream"]))

    @app.query(ListNotifications)
    async def list_notifications(q: ListNotifications, ctx: Context) -> list[dict[str, Any]]:
        rows = await ctx.read_model.fetch_all(
            "SELECT * FROM smarthome_notifications ORDER BY position DESC LIMIT :limit",
            {"limit": q.limit},
        )
        return [dict(r) for r in rows]

    @app.query(Explain)
    async def explain_state(q: Explain, ctx: Context) -> Explanation:
        return await explain(ctx.store, q.entity_id, state=q.state, at=q.at)

    if simulate:
        install_simulator(app, Simulator(clock=clock, activity=activity))
    install_page(app)
    return app


def _subject(event: RecordedEvent) -> str:
    return outbox_subject(event) or "smarthome.outbox"


def _key(event: RecordedEvent) -> str | None:
    entity = event.data.get("entity_id")
    return str(entity) if entity else event.stream
