"""The engine while it runs: one sequential processor, many run tasks.

The processor reads the device events from the store in position order and
the engine's due timers, one at a time, and records each decision before
acting on it (:class:`~.batch.Batch`). Runs execute as tasks and record each
step in their own streams (:mod:`.runs`). On start the session reads its
streams back (:func:`~.journal.recover`): pending timers are scheduled again,
open runs resume where they stopped, queued runs wait their turn, and the
device events after the last recorded decision are handled (a ``for:`` or a
delay that fell due while the engine was down fires then, in time order).

Example::

    session = EngineSession(engine, store)
    await session.run()          # until cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final, Protocol
from uuid import NAMESPACE_URL, uuid5

from ....context import replace_metadata
from ....events import NewEvent, uuid7
from ....store import ANY, EventStore
from ..clock import Clock
from .batch import Batch, append_retrying, journal_event, metadata
from .evaluate import Env, check_all
from .journal import (
    RUN_FINISHED,
    RUN_QUEUED,
    RUN_SKIPPED,
    RUN_STARTED,
    TIMER_CANCELLED,
    TIMER_FIRED,
    TIMER_SET,
    TIMER_SKIPPED,
    WAIT_ENDED,
    recover,
    run_stream,
)
from .listeners import TriggerIndex, outcome
from .model import Automation, Trigger, WaitForTriggerAction
from .restore import (
    restore_runs,
    restore_timers,
    restore_world,
    save_checkpoint,
    schedule_time_triggers,
)
from .runs import Interpreter, RunCancelled, RunHandle, RunStopped, run_metadata
from .schedule import next_time, spec_text
from .state import AutomationState, WaitListener
from .timers import Timer, Timers
from .world import DEVICE_PREFIX, OFFLINE, ONLINE, Entity, Reading, World, device_stream

__all__ = ["EngineSession", "EngineSettings"]

log = logging.getLogger("eventflux.demos.smarthome")
_LEVELS: Final = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10}


class EngineSettings(Protocol):
    """What a session needs of its engine (:class:`~.engine.RulesEngine` has it)."""

    automations: list[Automation]
    clock: Clock
    tz: tzinfo
    offline_after: timedelta
    checkpoint_every: int
    queue_size: int


class EngineSession:
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
                event_id = _add_step(batch, run, TIMER_SET, data)
                self.timers.add(Timer(run.stream, name, due, "waitfor", data, event_id))
        elif result.fires:
            self.end_wait(batch, wait, {"timed_out": False, "trigger": result.info})
        elif result.holds is False and key in self.timers:
            self.timers.remove(key)
            _add_step(batch, run, TIMER_CANCELLED, {"timer": name, "path": wait.path})

    def end_wait(self, batch: Batch, wait: WaitListener, result: dict[str, Any]) -> None:
        """A wait ends (matched or timed out): recorded, then the run goes on."""
        run, path = wait.run, wait.path
        self.waits.pop((run.stream, path), None)
        self.wait_index.remove_owner(wait)
        for timer in [t for t in self.timers.all() if t.stream == run.stream]:
            if timer.data.get("path") == path:
                self.timers.remove(timer.key)
        data = {"path": path, **result, "at": self.clock.now().isoformat()}
        _add_step(batch, run, WAIT_ENDED, data)
        batch.effects.append(lambda: _resolve(run, path, data))

    def start_wait(
        self,
        run: RunHandle,
        path: str,
        action: WaitForTriggerAction,
        after: int,
        due: datetime | None,
        event_id: str,
    ) -> None:
        """A run waits for ``action``'s triggers (after position ``after``)."""
        wait = WaitListener(run, path, action.triggers, after)
        self.waits[(run.stream, path)] = wait
        for i, trigger in enumerate(action.triggers):
            self.wait_index.add(wait, i, trigger)
        if due is not None:
            self.schedule(run.stream, f"wait:{path}", due, "wait", {"path": path}, event_id)

    # -- run modes ----------------------------------------------------------------------------
    def trigger(
        self,
        batch: Batch,
        state: AutomationState,
        info: dict[str, Any],
        cause: str,
        correlation_id: str,
        at: datetime,
    ) -> None:
        """An automation's trigger fired: check its conditions, apply its run mode."""
        automation = state.automation
        run_id = str(uuid7())
        stream = run_stream(automation.id, run_id)
        ok, conditions = check_all(automation.conditions, self.env(info, at))
        base = {
            "run_id": run_id,
            "automation": automation.id,
            "alias": automation.name,
            "mode": automation.mode,
            "trigger": info,
            "conditions": conditions,
            "at": self.clock.now().isoformat(),
        }
        state.runs += 1

        def skip(reason: str, level: str | None = None) -> None:
            meta = run_metadata(automation.id, run_id, correlation_id, cause)
            batch.add(
                stream,
                RUN_SKIPPED,
                {**base, "reason": reason},
                correlation_id=correlation_id,
                causation_id=run_id,
                extra=meta,
            )
            state.last_run = {**base, "outcome": reason, "stream": stream}
            if level is not None and level != "silent":
                log.log(_LEVELS[level], "automation %s: %s", automation.id, reason)

        if not ok:
            skip("conditions not met")
            return
        mode, active = automation.mode, state.active
        if mode == "single" and active:
            skip("already running (mode single)", automation.max_exceeded)
            return
        if mode == "parallel" and len(active) >= automation.max:
            skip(f"max exceeded: {automation.max} runs at once", automation.max_exceeded)
            return
        if mode == "queued" and len(active) + len(state.queue) >= automation.max:
            skip(f"max exceeded: {automation.max} runs queued", automation.max_exceeded)
            return
        if mode == "restart":
            for old in list(active.values()):
                self.stop_run(batch, old, "restarted", f"restarted by run {run_id}")
        run = RunHandle(run_id, automation, stream, info, correlation_id, cause, self.clock.now())
        self.runs[stream] = run
        state.last_run = {**base, "outcome": "running", "stream": stream}
        if mode == "queued" and active:
            batch.add(
                stream, RUN_QUEUED, base, correlation_id=correlation_id, causation_id=cause, run=run
            )
            state.queue.append(run)
            return
        batch.add(
            stream, RUN_STARTED, base, correlation_id=correlation_id, causation_id=cause, run=run
        )
        active[run_id] = run
        batch.effects.append(lambda: self.start_task(run))

    def stop_run(self, batch: Batch, run: RunHandle, outcome_: str, reason: str) -> None:
        """Stop ``run`` from outside (restart mode): recorded unless it ended first."""
        run.finished = True
        state = self.states[run.automation.id]
        state.active.pop(run.run_id, None)
        for timer in [t for t in self.timers.all() if t.stream == run.stream]:
            self.timers.remove(timer.key)
        for key in [k for k in self.waits if k[0] == run.stream]:
            self.wait_index.remove_owner(self.waits.pop(key))
        data = {
            "run_id": run.run_id,
            "automation": run.automation.id,
            "outcome": outcome_,
            "reason": reason,
            "at": self.clock.now().isoformat(),
        }
        batch.add(
            run.stream,
            RUN_FINISHED,
            data,
            correlation_id=run.correlation_id,
            causation_id=run.cause,
            run=run,
            skip_if=lambda: run.recorded_finish,
        )

        def cancel() -> None:
            if run.task is not None:
                run.task.cancel()
            self.runs.pop(run.stream, None)

        batch.effects.append(cancel)

    def start_task(self, run: RunHandle) -> None:
        run.task = asyncio.get_running_loop().create_task(
            self._execute(run), name=f"smarthome-run-{run.automation.id}-{run.run_id}"
        )

    async def _execute(self, run: RunHandle) -> None:
        outcome_, reason, error = "done", "", None
        started = time.perf_counter()
        try:
            await Interpreter(run, self).execute()
        except RunCancelled:
            return
        except RunStopped as e:
            outcome_, reason = e.outcome, e.reason
        except asyncio.CancelledError:
            raise
        except Exception as e:
            outcome_, error = "error", f"{type(e).__name__}: {e}"
            log.exception("automation %s: run %s failed", run.automation.id, run.run_id)
        data = {
            "run_id": run.run_id,
            "automation": run.automation.id,
            "outcome": outcome_,
            "reason": reason,
            "error": error,
            "at": self.clock.now().isoformat(),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        try:
            await self.append_run(run, [(RUN_FINISHED, data)], finishing=True)
        except RunCancelled:
            return
        self.control(lambda: self._after_run(run, data))

    async def _after_run(self, run: RunHandle, data: dict[str, Any]) -> None:
        """On the processor: a run ended; a queued one may start."""
        state = self.states[run.automation.id]
        state.active.pop(run.run_id, None)
        self.runs.pop(run.stream, None)
        if state.last_run is not None and state.last_run.get("stream") == run.stream:
            state.last_run = {**state.last_run, "outcome": data["outcome"]}
        if state.queue and (state.automation.mode != "queued" or not state.active):
            await self.start_queued(state)

    async def start_queued(self, state: AutomationState) -> None:
        nxt = state.queue.popleft()
        batch = Batch(self.store)
        data = {
            "run_id": nxt.run_id,
            "automation": state.automation.id,
            "trigger": nxt.trigger,
            "at": self.clock.now().isoformat(),
            "dequeued": True,
        }
        batch.add(
            nxt.stream,
            RUN_STARTED,
            data,
            correlation_id=nxt.correlation_id,
            causation_id=nxt.cause,
            run=nxt,
        )
        state.active[nxt.run_id] = nxt
        batch.effects.append(lambda: self.start_task(nxt))
        await batch.commit()

    async def append_run(
        self, run: RunHandle, items: list[tuple[str, dict[str, Any]]], *, finishing: bool = False
    ) -> list[str]:
        """A run records its own steps (in order, in one append)."""
        async with run.lock:
            if run.finished:
                raise RunCancelled(run.run_id)
            meta = run.metadata()
            events = [NewEvent(t, data, meta, uuid7()) for t, data in items]
            await append_retrying(self.store, {run.stream: (events, ANY)})
            for event in events:
                journal_event(run, event.type, event.data, event.id)
            if finishing:
                run.recorded_finish = run.finished = True
            return [str(e.id) for e in events]

    # -- timers ---------------------------------------------------------------------------
    async def _fire_due(self, until: datetime) -> None:
        if self.timers.next_due() is None:
            return
        for timer in self.timers.pop_due(until):
            batch = Batch(self.store)
            await self._fire(batch, timer)
            await batch.commit()

    async def _fire(self, batch: Batch, timer: Timer) -> None:
        fired_data = {
            "timer": timer.name,
            "due": timer.due.isoformat(),
            "at": self.clock.now().isoformat(),
        }
        if timer.purpose in ("for", "time"):
            state = self.states.get(timer.stream.removeprefix("automation-"))
            if state is None:
                return
            if timer.purpose == "for":
                correlation = str(timer.data.get("correlation_id") or timer.event_id)
                fired = batch.add(
                    state.stream,
                    TIMER_FIRED,
                    fired_data,
                    correlation_id=correlation,
                    causation_id=timer.event_id,
                )
                info = dict(timer.data.get("trigger") or {})
                self.trigger(batch, state, info, fired, correlation, timer.due)
            else:
                await self._fire_time(batch, state, timer, fired_data)
            return
        run = self.runs.get(timer.stream)
        if run is None or run.finished:
            return
        path = str(timer.data.get("path"))
        if timer.purpose == "delay":
            data = {**fired_data, "path": path, "step": timer.data.get("step", "delay")}
            _add_step(batch, run, TIMER_FIRED, data)
            batch.effects.append(lambda: _resolve(run, path, data))
            return
        wait = self.waits.get((run.stream, path))
        if wait is None:
            return
        if timer.purpose == "wait":
            self.end_wait(batch, wait, {"timed_out": True})
        elif timer.purpose == "waitfor":
            _add_step(batch, run, TIMER_FIRED, {**fired_data, "path": path})
            self.end_wait(batch, wait, {"timed_out": False, "trigger": timer.data.get("trigger")})

    async def _fire_time(
        self, batch: Batch, state: AutomationState, timer: Timer, fired_data: dict[str, Any]
    ) -> None:
        index = int(timer.data.get("idx", 0))
        missed = timer.due < self.started_at
        skipping = missed and state.automation.missed == "skip"
        root = str(uuid7())
        kind = TIMER_SKIPPED if skipping else TIMER_FIRED
        fired = batch.add(
            state.stream,
            kind,
            {**fired_data, "missed": missed},
            correlation_id=root,
            causation_id=None,
        )
        trigger = state.automation.triggers[index]
        self.schedule_next(batch, state, index, trigger, max(timer.due, self.clock.now()))
        if skipping:
            log.info(
                "automation %s: time trigger due %s was missed: skipped",
                state.automation.id,
                timer.due,
            )
            return
        local = timer.due.astimezone(self.tz)
        info = {
            "id": trigger.id,
            "idx": index,
            "kind": trigger.kind,
            "due": timer.due.isoformat(),
            "missed": missed,
            "description": f"it is {local.strftime('%H:%M:%S')}"
            + (" (missed while the engine was down)" if missed else ""),
        }
        self.trigger(batch, state, info, fired, root, timer.due)

    def schedule_next(
        self, batch: Batch, state: AutomationState, index: int, trigger: Trigger, after: datetime
    ) -> None:
        due = next_time(trigger, after, self.tz)
        if due is None:
            return
        name = f"time:{index}"
        data = {
            "timer": name,
            "purpose": "time",
            "idx": index,
            "due": due.isoformat(),
            "spec": spec_text(trigger),
        }
        event_id = batch.add(
            state.stream, TIMER_SET, data, correlation_id=str(uuid7()), causation_id=None
        )
        self.timers.add(Timer(state.stream, name, due, "time", data, event_id))

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


def _add_step(batch: Batch, run: RunHandle, event_type: str, data: dict[str, Any]) -> str:
    """Record a step of ``run`` (a timer, a wait's end) on its stream in ``batch``,
    unless the run has finished by the time the batch commits; returns the id."""
    return batch.add(
        run.stream,
        event_type,
        data,
        correlation_id=run.correlation_id,
        causation_id=run.cause,
        run=run,
        skip_if=lambda: run.finished,
    )


def _resolve(run: RunHandle, path: str, data: Any) -> None:
    future = run.future(path)
    if not future.done():
        future.set_result(data)
