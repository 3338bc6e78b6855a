"""The engine while it runs: one sequential processor, many run tasks.

The processor reads the device events from the store in position order and
the engine's due timers, one at a time, and records each decision before
acting on it (:class:`~.batch.Batch`). Runs execute as tasks and record each
step in their own streams (:mod:`.runs`). On start the session reads its
streams back (:func:`~.journal.recover`): pending timers are scheduled again,
open runs resume where they stopped, queued runs wait their turn, and the
device events after the last recorded decision are handled (a ``for:`` or a
delay that fell due while the engine was down fires then, in time order).

This module holds the processor: its state, its input loop, the device
events (the triggers and waits each concerns) and the offline sweep. What a
trigger starts and how a run lives and ends is in :mod:`.lifecycle`, what a
timer does when it falls due in :mod:`.firing`.

Example::

    session = EngineSession(engine, store)
    await session.run()          # until cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol
from uuid import NAMESPACE_URL, uuid5

from ....context import replace_metadata
from ....events import NewEvent
from ....store import ANY, EventStore
from ..clock import Clock
from .batch import Batch, append_retrying, metadata
from .evaluate import Env
from .firing import TimerFiring
from .journal import TIMER_CANCELLED, TIMER_SET, recover
from .lifecycle import RunLifecycle, add_step
from .listeners import TriggerIndex, outcome
from .model import Automation, Trigger
from .restore import (
    restore_runs,
    restore_timers,
    restore_world,
    save_checkpoint,
    schedule_time_triggers,
)
from .runs import RunHandle
from .state import AutomationState, WaitListener
from .timers import Timer, Timers
from .world import DEVICE_PREFIX, OFFLINE, ONLINE, Entity, Reading, World, device_stream

__all__ = ["EngineSession", "EngineSettings"]


class EngineSettings(Protocol):
    """What a session needs of its engine (:class:`~.engine.RulesEngine` has it)."""

    automations: list[Automation]
    clock: Clock
    tz: tzinfo
    offline_after: timedelta
    checkpoint_every: int
    queue_size: int


class EngineSession(RunLifecycle, TimerFiring):
    """The rules engine between a start and a stop."""

    def __init__(self, engine: EngineSettings, store: EventStore) -> None:
        self.engine = engine
        self.store = store
        self.clock = engine.clock
        self.tz = engine.tz
        self.world = World()
        self.timers = Timers()
        self.states = {a.id: AutomationState(a) for a in engine.automations}
        self.index: TriggerIndex[AutomationState] = TriggerIndex()
        for state in self.states.values():
            for i, trigger in enumerate(state.automation.triggers):
                self.index.add(state, i, trigger)
        self.waits: dict[tuple[str, str], WaitListener] = {}
        self.wait_index: TriggerIndex[WaitListener] = TriggerIndex()
        self.runs: dict[str, RunHandle] = {}
        self.position = 0
        self.processed = 0
        self.inputs: asyncio.Queue[Reading] = asyncio.Queue(maxsize=engine.queue_size)
        self.controls: deque[Any] = deque()
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.offline_pending: set[str] = set()
        self._next_sweep: datetime | None = None
        self.since_checkpoint = 0
        self._held: Reading | None = None
        #: True while the processor handles an event or a timer
        self.busy = False
        #: triggers checked against device events (a rule evaluation each)
        self.evaluations = 0
        #: the device time of the last event handled
        self.last_at: datetime | None = None
        self.started_at = self.clock.now()

    # -- time -----------------------------------------------------------------------------
    def local_now(self) -> datetime:
        return self.clock.now().astimezone(self.tz)

    def env(self, trigger: Mapping[str, Any], now: datetime | None = None) -> Env:
        return Env(self.world, now or self.clock.now(), self.tz, trigger)

    def schedule(
        self,
        stream: str,
        name: str,
        due: datetime,
        purpose: str,
        data: dict[str, Any],
        event_id: str,
    ) -> None:
        """Put a recorded timer on the schedule (and wake the processor)."""
        self.timers.add(Timer(stream, name, due, purpose, data, event_id))
        self.wake.set()

    def control(self, fn: Any) -> None:
        """Run ``await fn()`` on the processor, between two events."""
        self.controls.append(fn)
        self.wake.set()

    # -- running ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Recover, then process device events and timers until cancelled."""
        with replace_metadata({}):
            recovered = await recover(self.store)
            start = await restore_world(self, recovered.checkpoint)
            self.position = start
            await restore_runs(self, recovered.open_runs())
            await restore_timers(self, recovered.automation_timers)
            await schedule_time_triggers(self)
            pump = asyncio.get_running_loop().create_task(self._pump(start))
            self.ready.set()
            try:
                await self._loop(pump)
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
                tasks = [r.task for r in self.runs.values() if r.task is not None]
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(self, after: int) -> None:
        async for e in self.store.subscribe(after=after, stream_prefix=DEVICE_PREFIX):
            reading = Reading.of(e)
            if reading is not None:
                await self.inputs.put(reading)

    async def _loop(self, pump: asyncio.Task[None]) -> None:
        inputs = self.inputs
        while True:
            while self.controls:
                await self.controls.popleft()()
            reading, self._held = self._held, None
            if reading is None and not inputs.empty():
                reading = inputs.get_nowait()
            if reading is None:
                self.busy = True
                try:
                    await self._fire_due(self.clock.now())
                    await self._sweep()
                finally:
                    self.busy = False
                if self.controls or not inputs.empty():
                    continue
                await self._idle(pump)
                continue
            self.busy = True
            try:
                # timers due before this event happened go first (never before their time)
                await self._fire_due(min(reading.at, self.clock.now()))
                await self.handle(reading)
            finally:
                self.busy = False

    async def _idle(self, pump: asyncio.Task[None]) -> None:
        """Wait for a device event, a control, or the next due time."""
        self.wake.clear()
        due = self.timers.next_due()
        if self._next_sweep is not None and (due is None or self._next_sweep < due):
            due = self._next_sweep
        loop = asyncio.get_running_loop()
        waiters: set[asyncio.Future[Any]] = {
            loop.create_task(self._input_ready()),
            loop.create_task(self.wake.wait()),
            pump,
        }
        sleeper = None
        if due is not None:
            sleeper = loop.create_task(self.clock.sleep_until(due))
            waiters.add(sleeper)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pending = [w for w in waiters if w is not pump and not w.done()]
            for w in pending:
                w.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if pump.done():
            pump.result()  # the store closed or failed: end here

    async def _input_ready(self) -> None:
        self._held = await self.inputs.get()  # the loop takes it next

    # -- device events ------------------------------------------------------------------------
    async def handle(self, reading: Reading) -> None:
        """Apply one device event: the world, then every trigger it concerns."""
        before = self.world.apply(reading)
        self.position = reading.position
        self.processed += 1
        self.last_at = reading.at
        entity = self.world.get(reading.entity_id) if reading.entity_id else None
        batch = Batch(self.store, reading.position)
        if entity is not None and not entity.online and reading.event not in (OFFLINE, ONLINE):
            await self._mark(entity, ONLINE, reading)
        if entity is not None and reading.event == OFFLINE:
            self.offline_pending.discard(entity.entity_id)
        for state, i, trigger in self.index.candidates(reading):
            self.evaluations += 1
            self._consider(batch, state, i, trigger, reading, before, entity)
        if self.waits:
            for wait, i, trigger in list(self.wait_index.candidates(reading)):
                if reading.position > wait.after and (wait.run.stream, wait.path) in self.waits:
                    self._consider_wait(batch, wait, i, trigger, reading, before, entity)
        if batch:
            await batch.commit()
        self.since_checkpoint += 1
        if self.since_checkpoint >= self.engine.checkpoint_every:
            await save_checkpoint(self)

    def _consider(
        self,
        batch: Batch,
        state: AutomationState,
        i: int,
        trigger: Trigger,
        reading: Reading,
        before: Entity | None,
        after: Entity | None,
    ) -> None:
        result = outcome(trigger, i, reading, before, after)
        for_ = getattr(trigger, "for_", None)
        name = f"for:{i}:{reading.entity_id}"
        key = (state.stream, name)
        if result.fires and for_ is not None:
            if key not in self.timers:
                due = reading.at + for_
                data = {
                    "timer": name,
                    "purpose": "for",
                    "due": due.isoformat(),
                    "trigger": result.info,
                    "correlation_id": reading.correlation_id,
                }
                event_id = batch.add(
                    state.stream,
                    TIMER_SET,
                    data,
                    correlation_id=reading.correlation_id,
                    causation_id=reading.event_id,
                )
                self.timers.add(Timer(state.stream, name, due, "for", data, event_id))
        elif result.fires:
            self.trigger(
                batch, state, result.info, reading.event_id, reading.correlation_id, reading.at
            )
        elif result.holds is False and key in self.timers:
            timer = self.timers.remove(key)
            assert timer is not None
            batch.add(
                state.stream,
                TIMER_CANCELLED,
                {"timer": name, "reason": result.info.get("description", "")},
                correlation_id=str(timer.data.get("correlation_id") or reading.correlation_id),
                causation_id=reading.event_id,
            )

    def _consider_wait(
        self,
        batch: Batch,
        wait: WaitListener,
        i: int,
        trigger: Trigger,
        reading: Reading,
        before: Entity | None,
        after: Entity | None,
    ) -> None:
        result = outcome(trigger, i, reading, before, after)
        run = wait.run
        for_ = getattr(trigger, "for_", None)
        name = f"waitfor:{wait.path}:{i}:{reading.entity_id}"
        key = (run.stream, name)
        if result.fires and for_ is not None:
            if key not in self.timers:
                due = reading.at + for_
                data = {
                    "timer": name,
                    "purpose": "waitfor",
                    "path": wait.path,
                    "due": due.isoformat(),
                    "trigger": result.info,
                }
                event_id = add_step(batch, run, TIMER_SET, data)
                self.timers.add(Timer(run.stream, name, due, "waitfor", data, event_id))
        elif result.fires:
            self.end_wait(batch, wait, {"timed_out": False, "trigger": result.info})
        elif result.holds is False and key in self.timers:
            self.timers.remove(key)
            add_step(batch, run, TIMER_CANCELLED, {"timer": name, "path": wait.path})

    # -- offline detection -----------------------------------------------------------------------
    async def _sweep(self) -> None:
        """Mark devices whose heartbeats stopped as offline (recorded device events)."""
        now = self.clock.now()
        if self._next_sweep is not None and now < self._next_sweep:
            return
        limit = self.engine.offline_after
        self._next_sweep = now + limit / 4
        for entity in list(self.world.entities.values()):
            if (
                entity.online
                and entity.last_seen is not None
                and now - entity.last_seen > limit
                and entity.entity_id not in self.offline_pending
            ):
                self.offline_pending.add(entity.entity_id)
                await self._mark(entity, OFFLINE, None)

    async def _mark(self, entity: Entity, what: str, reading: Reading | None) -> None:
        """Record a device going offline or coming back (idempotent ids)."""
        basis = entity.last_event_id if reading is None else reading.event_id
        event_id = uuid5(NAMESPACE_URL, f"eventflux:smarthome:{what}:{entity.entity_id}:{basis}")
        room, _, device = entity.entity_id.partition(".")
        data: dict[str, Any] = {
            "subject": f"home.{room}.{device}.{what}",
            "entity_id": entity.entity_id,
            "kind": entity.kind,
            "at": self.clock.now().isoformat(),
            "last_seen": entity.last_seen.isoformat() if entity.last_seen else None,
            "last_event_id": entity.last_event_id,
        }
        if reading is not None:
            data["input"] = reading.position
        event = NewEvent(f"home.{what}", data, metadata(str(event_id), None), event_id)
        await append_retrying(self.store, {device_stream(entity.entity_id): ([event], ANY)})
