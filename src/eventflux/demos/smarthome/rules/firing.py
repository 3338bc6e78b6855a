"""Timers falling due on the session: a ``for:`` that held, a time or cron
trigger, a run's delay, the timeout of a wait.

The processor fires the due timers one at a time, each in a batch of its
own: the firing is recorded in the timer's stream, then what it causes (an
automation triggered, the next time of a time trigger scheduled, a run going
on). A time trigger that fell due while the engine was down fires late, or
is skipped when its automation says ``missed: skip``.
:class:`TimerFiring` is a part of :class:`~.session.EngineSession`.

Example::

    # the processor, before each device event (and when idle, up to now)
    await self._fire_due(min(reading.at, self.clock.now()))
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ....events import uuid7
from ....store import EventStore
from ..clock import Clock
from .batch import Batch
from .journal import TIMER_FIRED, TIMER_SET, TIMER_SKIPPED
from .lifecycle import add_step, resolve
from .model import Trigger
from .runs import RunHandle
from .schedule import next_time, spec_text
from .state import AutomationState, WaitListener
from .timers import Timer, Timers

__all__ = ["TimerFiring"]

log = logging.getLogger("eventflux.demos.smarthome")


class TimerFiring:
    """What the session does when its timers fall due."""

    # the session's attributes used here (set in EngineSession.__init__)
    store: EventStore
    clock: Clock
    tz: tzinfo
    started_at: datetime
    states: dict[str, AutomationState]
    runs: dict[str, RunHandle]
    timers: Timers
    waits: dict[tuple[str, str], WaitListener]

    if TYPE_CHECKING:  # RunLifecycle's (lifecycle.py)

        def trigger(
            self,
            batch: Batch,
            state: AutomationState,
            info: dict[str, Any],
            cause: str,
            correlation_id: str,
            at: datetime,
        ) -> None: ...

        def end_wait(self, batch: Batch, wait: WaitListener, result: dict[str, Any]) -> None: ...

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
            add_step(batch, run, TIMER_FIRED, data)
            batch.effects.append(lambda: resolve(run, path, data))
            return
        wait = self.waits.get((run.stream, path))
        if wait is None:
            return
        if timer.purpose == "wait":
            self.end_wait(batch, wait, {"timed_out": True})
        elif timer.purpose == "waitfor":
            add_step(batch, run, TIMER_FIRED, {**fired_data, "path": path})
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
