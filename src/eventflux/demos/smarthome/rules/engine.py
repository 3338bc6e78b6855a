"""The rules engine: automations run against the device events of an event store.

:class:`RulesEngine` holds the automations and the settings (clock, time
zone, when a silent device counts as offline). ``await engine.run(store)``
runs it until cancelled; it is durable: every decision, timer and step is an
event in the store (:mod:`.journal`), and a new process resumes where the
last one stopped. One engine runs per store at a time.

Example::

    engine = RulesEngine(load_automations_file("automations.yaml"), clock=SystemClock())
    task = asyncio.create_task(engine.run(store))
    await engine.wait_ready()
    print(engine.status())          # automations, their last runs, the engine's position
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ....exceptions import ConfigurationError
from ....store import EventStore
from ..clock import Clock, SystemClock
from .model import Automation
from .session import EngineSession
from .world import DEVICE_PREFIX

__all__ = ["RulesEngine"]


def _zone(tz: tzinfo | str | None) -> tzinfo:
    if tz is None:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    if isinstance(tz, str):
        return ZoneInfo(tz)
    return tz


class RulesEngine:
    """Automations, and the settings they run with.

    ``clock`` tells the time (inject a :class:`~..clock.ManualClock` in tests);
    ``tz`` is the time zone of times of day (default: the machine's);
    ``offline_after`` is how long a device may stay silent before it is marked
    offline; ``checkpoint_every`` how many device events pass between two
    records of the engine's position and device states (restarts read only
    what came after the last one).
    """

    def __init__(
        self,
        automations: Iterable[Automation] = (),
        *,
        clock: Clock | None = None,
        tz: tzinfo | str | None = None,
        offline_after: timedelta = timedelta(seconds=90),
        checkpoint_every: int = 10_000,
        queue_size: int = 10_000,
    ) -> None:
        self.automations: list[Automation] = []
        self.session: EngineSession | None = None
        for automation in automations:
            self.add(automation)
        self.clock: Clock = clock or SystemClock()
        self.tz = _zone(tz)
        self.offline_after = offline_after
        self.checkpoint_every = checkpoint_every
        self.queue_size = queue_size
        self._ready = asyncio.Event()

    def add(self, automation: Automation) -> None:
        """Add an automation (before the engine runs); ids are unique."""
        if not isinstance(automation, Automation):
            raise TypeError(f"expected an Automation, not {automation!r}")
        if any(a.id == automation.id for a in self.automations):
            raise ConfigurationError(f"a second automation with id {automation.id!r}")
        if self.session is not None:
            raise ConfigurationError("add automations before the engine runs")
        self.automations.append(automation)

    def get(self, automation_id: str) -> Automation | None:
        return next((a for a in self.automations if a.id == automation_id), None)

    async def run(self, store: EventStore) -> None:
        """Run until cancelled: recover from the store, then follow it."""
        session = EngineSession(self, store)
        self.session = session
        try:
            task = asyncio.get_running_loop().create_task(session.run())
            ready = asyncio.get_running_loop().create_task(session.ready.wait())
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
            if ready.done():
                self._ready.set()
            else:
                ready.cancel()
            await task
        finally:
            self._ready.clear()
            self.session = None

    async def wait_ready(self) -> EngineSession:
        """Wait until the engine recovered and follows the store; its session."""
        await self._ready.wait()
        assert self.session is not None
        return self.session

    async def settle(self, store: EventStore) -> None:
        """Wait until the engine handled every device event stored now, fired
        every timer due now, and every run is done or waiting (tests and
        scripts; bound it with ``asyncio.timeout``)."""
        session = await self.wait_ready()
        while True:
            if not session.busy and not session.controls and _runs_idle(session):
                due = session.timers.next_due()
                if due is None or due > self.clock.now():
                    after = session.position
                    pending = store.read_all(after=after, stream_prefix=DEVICE_PREFIX, limit=1)
                    if not [e async for e in pending] and not session.busy:
                        return
            await asyncio.sleep(0.002)

    def status(self) -> dict[str, Any]:
        """The automations (with their last run) and the engine's position."""
        session = self.session
        automations = []
        for automation in self.automations:
            state = None if session is None else session.states.get(automation.id)
            automations.append(
                {
                    "id": automation.id,
                    "alias": automation.name,
                    "description": automation.description,
                    "mode": automation.mode,
                    "triggers": [t.kind for t in automation.triggers],
                    "source": automation.source,
                    "running": 0 if state is None else len(state.active),
                    "queued": 0 if state is None else len(state.queue),
                    "last_run": None if state is None else state.last_run,
                }
            )
        return {
            "running": session is not None,
            "position": 0 if session is None else session.position,
            "processed": 0 if session is None else session.processed,
            "timers": 0 if session is None else len(session.timers),
            "automations": automations,
        }


def _runs_idle(session: EngineSession) -> bool:
    """Every run task is waiting on a timer or a trigger, or done."""
    for run in session.runs.values():
        task = run.task
        if task is None or task.done():
            continue
        waiting = [f for f in run.futures.values() if not f.done()]
        if not waiting:
            return False
    return True
