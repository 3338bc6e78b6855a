"""A run's life on the session: started, queued or skipped by its automation's
mode, executed as a task, waiting for triggers, ended and followed by the next
queued run.

Every decision is recorded before it takes effect: a run's start, queueing
or skip in the batch of the event or timer that triggered it, its steps in
its own stream (:meth:`RunLifecycle.append_run`), the end of a wait in the
batch that ended it. :class:`RunLifecycle` is a part of
:class:`~.session.EngineSession`; :func:`add_step` and :func:`resolve` are
how the processor records a run's step and lets the run go on.

Example::

    session.trigger(batch, state, info, cause, correlation_id, at)
    await batch.commit()         # the run starts (or waits its turn)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from ....events import NewEvent, uuid7
from ....store import ANY, EventStore
from ..clock import Clock
from .batch import Batch, append_retrying, journal_event
from .evaluate import Env, check_all
from .journal import RUN_FINISHED, RUN_QUEUED, RUN_SKIPPED, RUN_STARTED, WAIT_ENDED, run_stream
from .listeners import TriggerIndex
from .model import WaitForTriggerAction
from .runs import Interpreter, RunCancelled, RunHandle, RunStopped, run_metadata
from .state import AutomationState, WaitListener
from .timers import Timers
from .world import World

__all__ = ["RunLifecycle", "add_step", "resolve"]

log = logging.getLogger("eventflux.demos.smarthome")
_LEVELS: Final = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10}


class RunLifecycle:
    """The session's runs, from the trigger that starts one to its end."""

    # the session's attributes used here (set in EngineSession.__init__)
    store: EventStore
    clock: Clock
    world: World
    position: int
    states: dict[str, AutomationState]
    runs: dict[str, RunHandle]
    timers: Timers
    waits: dict[tuple[str, str], WaitListener]
    wait_index: TriggerIndex[WaitListener]

    if TYPE_CHECKING:  # EngineSession's (session.py)

        def local_now(self) -> datetime: ...

        def env(self, trigger: Mapping[str, Any], now: datetime | None = None) -> Env: ...

        def schedule(
            self,
            stream: str,
            name: str,
            due: datetime,
            purpose: str,
            data: dict[str, Any],
            event_id: str,
        ) -> None: ...

        def control(self, fn: Any) -> None: ...

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

    # -- waits ----------------------------------------------------------------------------
    def end_wait(self, batch: Batch, wait: WaitListener, result: dict[str, Any]) -> None:
        """A wait ends (matched or timed out): recorded, then the run goes on."""
        run, path = wait.run, wait.path
        self.waits.pop((run.stream, path), None)
        self.wait_index.remove_owner(wait)
        for timer in [t for t in self.timers.all() if t.stream == run.stream]:
            if timer.data.get("path") == path:
                self.timers.remove(timer.key)
        data = {"path": path, **result, "at": self.clock.now().isoformat()}
        add_step(batch, run, WAIT_ENDED, data)
        batch.effects.append(lambda: resolve(run, path, data))

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


def add_step(batch: Batch, run: RunHandle, event_type: str, data: dict[str, Any]) -> str:
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


def resolve(run: RunHandle, path: str, data: Any) -> None:
    future = run.future(path)
    if not future.done():
        future.set_result(data)
