"""How a starting engine gets back to where the last one stopped.

The device states come from the engine's last checkpoint
(``smarthome.EngineCheckpoint`` in ``smarthome-engine``) plus the device
events after it up to the last decision; open runs resume with their
recorded steps, queued runs wait again, pending timers are scheduled again
(a time trigger whose schedule changed is rescheduled), and time triggers
without a pending timer get their next one.

Example::

    start = await restore_world(session, recovered.checkpoint)
    await restore_runs(session, recovered.open_runs())
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from ....events import NewEvent, uuid7
from ....store import ANY, EventStore
from .batch import Batch, append_retrying
from .journal import TIMER_CANCELLED, WAIT_ENDED, WAIT_STARTED, RunRecord
from .model import CronTrigger, TimeTrigger, Trigger, WaitForTriggerAction
from .runs import RunHandle, RunHost, find_action
from .schedule import spec_text
from .state import AutomationState
from .timers import Timer, Timers
from .world import DEVICE_PREFIX, Entity, Reading

__all__ = [
    "CHECKPOINT",
    "CHECKPOINT_STREAM",
    "RestoreHost",
    "restore_runs",
    "restore_timers",
    "restore_world",
    "save_checkpoint",
    "schedule_time_triggers",
]


class RestoreHost(RunHost, Protocol):
    """What restoring needs of the session (it has it)."""

    store: EventStore
    states: dict[str, AutomationState]
    runs: dict[str, RunHandle]
    timers: Timers
    since_checkpoint: int

    def start_task(self, run: RunHandle) -> None: ...

    async def start_queued(self, state: AutomationState) -> None: ...

    def schedule_next(
        self, batch: Batch, state: AutomationState, index: int, trigger: Trigger, after: datetime
    ) -> None: ...


log = logging.getLogger("eventflux.demos.smarthome")
CHECKPOINT_STREAM: Final = "smarthome-engine"
CHECKPOINT: Final = "smarthome.EngineCheckpoint"


async def save_checkpoint(self: RestoreHost) -> None:
    """Record where the engine is and what it knows of every device, so a
    restart reads only what came after."""
    self.since_checkpoint = 0
    data = {
        "position": self.position,
        "entities": [e.as_dict() for e in self.world.entities.values()],
        "at": self.clock.now().isoformat(),
    }
    event = NewEvent(CHECKPOINT, data, None, uuid7())
    await append_retrying(self.store, {CHECKPOINT_STREAM: ([event], ANY)})


async def restore_world(self: RestoreHost, checkpoint: int) -> int:
    """The world as of the resume point; returns that point."""
    start = 0
    async for e in self.store.read(CHECKPOINT_STREAM, backwards=True, limit=1):
        start = int(e.data.get("position") or 0)
        for item in e.data.get("entities") or ():
            entity = Entity.from_dict(item)
            self.world.entities[entity.entity_id] = entity
        self.world.position = start
    if checkpoint > start:
        async for e in self.store.read_all(after=start, stream_prefix=DEVICE_PREFIX):
            if e.position > checkpoint:
                break
            reading = Reading.of(e)
            if reading is not None:
                self.world.apply(reading)
        start = checkpoint
    return start


async def restore_runs(self: RestoreHost, records: list[RunRecord]) -> None:
    for record in records:
        state = self.states.get(record.automation_id)
        if state is None:
            log.warning("run %s of an automation no longer loaded is left", record.stream)
            continue
        run = RunHandle(
            record.run_id,
            state.automation,
            record.stream,
            record.trigger,
            record.correlation_id,
            record.last_event_id,
            self.clock.now(),
            journal=record.journal,
        )
        self.runs[record.stream] = run
        if record.status == "queued":
            state.queue.append(run)
            continue
        state.active[run.run_id] = run
        for name, (data, event_id) in record.timers.items():
            due = datetime.fromisoformat(str(data["due"]))
            self.timers.add(
                Timer(run.stream, name, due, str(data["purpose"]), dict(data), event_id)
            )
        for path, steps in record.journal.items():
            started = steps.get(WAIT_STARTED)
            if started is None or WAIT_ENDED in steps:
                continue
            action = find_action(state.automation.actions, path)
            if isinstance(action, WaitForTriggerAction):
                due_text = started.get("due")
                until = datetime.fromisoformat(due_text) if isinstance(due_text, str) else None
                self.start_wait(run, path, action, int(started.get("after") or 0), until, "")
        self.start_task(run)
    for state in self.states.values():
        if state.queue and not state.active:
            await self.start_queued(state)


async def restore_timers(
    self: RestoreHost, timers: dict[tuple[str, str], tuple[Mapping[str, Any], str]]
) -> None:
    for (stream, name), (data, event_id) in timers.items():
        state = self.states.get(stream.removeprefix("automation-"))
        if state is None:
            continue
        due = datetime.fromisoformat(str(data["due"]))
        timer = Timer(stream, name, due, str(data["purpose"]), dict(data), event_id)
        if timer.purpose == "time":
            index = int(data.get("idx", -1))
            triggers = state.automation.triggers
            if not 0 <= index < len(triggers) or spec_text(triggers[index]) != data.get("spec"):
                batch = Batch(self.store)
                batch.add(
                    stream,
                    TIMER_CANCELLED,
                    {"timer": name, "reason": "changed"},
                    correlation_id=str(uuid7()),
                    causation_id=None,
                )
                await batch.commit()
                continue
        self.timers.add(timer)


async def schedule_time_triggers(self: RestoreHost) -> None:
    batch = Batch(self.store)
    for state in self.states.values():
        for i, trigger in enumerate(state.automation.triggers):
            timer_key = (state.stream, f"time:{i}")
            if isinstance(trigger, TimeTrigger | CronTrigger) and timer_key not in self.timers:
                self.schedule_next(batch, state, i, trigger, self.clock.now())
    await batch.commit()
