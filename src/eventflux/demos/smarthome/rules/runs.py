"""One automation run: its actions, executed step by step, every step recorded.

A run executes its automation's action tree. Each step is recorded in the
run's stream before the run goes on, under a path that names the step in
the tree (``0``, ``2.o1.0`` for the first step of choice 1 of step 2,
``3.r4.0`` for pass 4 of a repeat, ``5.b1.0`` for branch 1 of a parallel).
A run resumed after a restart walks the same tree with the steps recorded
so far: a step already recorded is not done again (a command is not sent
twice, a choice is not made again), a delay or wait under way goes on
until its recorded time, and the run continues from where it stopped.

Example::

    run = RunHandle(...)
    await Interpreter(run, engine).execute()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ....context import ACTOR, CAUSATION_ID, COMMAND, COMMAND_CAUSATION_ID, CORRELATION_ID
from ..clock import Clock
from .durations import format_duration
from .evaluate import Env, check
from .journal import (
    COMMAND_SENT,
    EVENT_FIRED,
    NOTIFIED,
    STEP_DONE,
    TIMER_FIRED,
    TIMER_SET,
    WAIT_ENDED,
    WAIT_STARTED,
)
from .model import (
    Action,
    Automation,
    ChooseAction,
    Condition,
    ConditionAction,
    DelayAction,
    DeviceAction,
    EventAction,
    NotifyAction,
    ParallelAction,
    PythonAction,
    RepeatAction,
    StopAction,
    WaitForTriggerAction,
)
from .templates import render, render_data
from .world import World

__all__ = [
    "Interpreter",
    "RunCancelled",
    "RunHandle",
    "RunHost",
    "RunStopped",
    "Step",
    "find_action",
    "run_metadata",
]


class RunHost(Protocol):
    """What a run needs of the engine that runs it (the session has it)."""

    clock: Clock
    world: World
    position: int

    def env(self, trigger: Mapping[str, Any], now: datetime | None = None) -> Env: ...

    def local_now(self) -> datetime: ...

    async def append_run(
        self, run: RunHandle, items: list[tuple[str, dict[str, Any]]], *, finishing: bool = False
    ) -> list[str]: ...

    def schedule(
        self,
        stream: str,
        name: str,
        due: datetime,
        purpose: str,
        data: dict[str, Any],
        event_id: str,
    ) -> None: ...

    def start_wait(
        self,
        run: RunHandle,
        path: str,
        action: WaitForTriggerAction,
        after: int,
        due: datetime | None,
        event_id: str,
    ) -> None: ...


class RunCancelled(Exception):
    """The run was stopped from outside (restart mode, engine shutdown)."""


class RunStopped(Exception):
    """The run ends early: a condition step failed, a stop step, a wait timed out."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(eq=False)
class RunHandle:
    """A run in memory: its stream, what started it, its recorded steps."""

    run_id: str
    automation: Automation
    stream: str
    trigger: dict[str, Any]
    correlation_id: str
    #: the id of what started the run (a device event, a timer that fired)
    cause: str
    started_at: datetime
    journal: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: set when the run must append nothing more (stopped from outside)
    finished: bool = False
    #: set once the run recorded its own RunFinished
    recorded_finish: bool = False
    task: asyncio.Task[None] | None = None
    futures: dict[str, asyncio.Future[Any]] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """The metadata of every event of the run: the run is a command (``run
        <automation id>``) whose id is the run's id, caused by what triggered it,
        so a causal chain hangs every step of the run under that one hop."""
        return run_metadata(self.automation.id, self.run_id, self.correlation_id, self.cause)

    def future(self, path: str) -> asyncio.Future[Any]:
        """The future a waiting step awaits (made by whichever side comes first)."""
        found = self.futures.get(path)
        if found is None:
            found = self.futures[path] = asyncio.get_running_loop().create_future()
        return found

    def recorded(self, path: str, event_type: str) -> Mapping[str, Any] | None:
        return self.journal.get(path, {}).get(event_type)

    def variables(self, now: str, **more: Any) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "automation": {"id": self.automation.id, "alias": self.automation.name},
            "run_id": self.run_id,
            "now": now,
            **more,
        }


@dataclass(frozen=True)
class Step:
    """What a :class:`~.model.PythonAction` function receives."""

    run: RunHandle
    path: str
    session: RunHost

    @property
    def trigger(self) -> Mapping[str, Any]:
        return self.run.trigger

    def entity(self, entity_id: str) -> Any:
        return self.session.world.get(entity_id)


def run_metadata(
    automation_id: str, run_id: str, correlation_id: str, cause: str
) -> dict[str, Any]:
    """See :meth:`RunHandle.metadata`."""
    return {
        CORRELATION_ID: correlation_id,
        CAUSATION_ID: run_id,
        COMMAND: f"run {automation_id}",
        COMMAND_CAUSATION_ID: cause,
        ACTOR: f"automation:{automation_id}",
        "automation": automation_id,
    }


def find_action(actions: tuple[Action, ...], path: str) -> Action | None:
    """The action a step path names (None if the tree has no such step)."""
    tokens = path.split(".")
    current: tuple[Action, ...] = actions
    action: Action | None = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.isdigit() or int(token) >= len(current):
            return None
        action = current[int(token)]
        i += 1
        if i == len(tokens):
            return action
        branch = tokens[i]
        i += 1
        if isinstance(action, ChooseAction) and branch.startswith("o"):
            index = int(branch[1:])
            if index >= len(action.options):
                return None
            current = action.options[index].sequence
        elif isinstance(action, ChooseAction) and branch == "d":
            current = action.default
        elif isinstance(action, RepeatAction) and branch.startswith("r"):
            current = action.sequence
        elif isinstance(action, ParallelAction) and branch.startswith("b"):
            index = int(branch[1:])
            if index >= len(action.branches):
                return None
            current = action.branches[index]
        else:
            return None
    return action


def describe(action: Action) -> str:
    """A short line naming a step, for traces."""
    if action.alias:
        return action.alias
    if isinstance(action, DeviceAction):
        return f"{action.action} {', '.join(action.entity_id)}"
    if isinstance(action, NotifyAction):
        return f"notify.{action.target}"
    if isinstance(action, EventAction):
        return f"event {action.subject}"
    if isinstance(action, DelayAction):
        return f"delay {format_duration(action.duration)}"
    if isinstance(action, WaitForTriggerAction):
        return "wait for trigger"
    return action.kind


class Interpreter:
    """Walks a run's action tree, recording each step (and skipping those recorded)."""

    def __init__(self, run: RunHandle, session: RunHost) -> None:
        self.run = run
        self.s = session

    async def execute(self) -> None:
        await self.sequence(self.run.automation.actions, "")

    async def sequence(self, actions: tuple[Action, ...], prefix: str) -> None:
        for i, action in enumerate(actions):
            await self.step(action, f"{prefix}{i}")

    def env(self) -> Env:
        return self.s.env(self.run.trigger)

    async def decide(self, path: str, kind: str, conditions: tuple[Condition, ...]) -> bool:
        """Evaluate ``conditions`` once (a resumed run reads the recorded result)."""
        recorded = self.run.recorded(path, STEP_DONE)
        if recorded is not None:
            return bool(recorded["result"])
        started = time.perf_counter()
        env = self.env()
        results = [check(c, env) for c in conditions]
        ok = all(r for r, _ in results)
        await self.record(
            path, kind, STEP_DONE, {"result": ok, "conditions": [d for _, d in results]}, started
        )
        return ok

    async def record(
        self, path: str, kind: str, event_type: str, data: dict[str, Any], started: float
    ) -> None:
        data = {
            "path": path,
            "step": kind,
            **data,
            "at": self.s.clock.now().isoformat(),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        await self.s.append_run(self.run, [(event_type, data)])

    async def step(self, action: Action, path: str) -> None:
        run = self.run
        started = time.perf_counter()
        now_text = self.s.local_now().strftime("%Y-%m-%d %H:%M:%S")
        variables = run.variables(now_text)
        if isinstance(action, DeviceAction):
            if run.recorded(path, COMMAND_SENT) is None:
                data = render_data(dict(action.data), variables)
                at = self.s.clock.now().isoformat()
                await self.s.append_run(
                    run,
                    [
                        (
                            COMMAND_SENT,
                            {
                                "path": path,
                                "step": describe(action),
                                "action": action.action,
                                "command": action.command,
                                "entity_id": entity_id,
                                "data": data,
                                "at": at,
                            },
                        )
                        for entity_id in action.entity_id
                    ],
                )
        elif isinstance(action, NotifyAction):
            if run.recorded(path, NOTIFIED) is None:
                await self.record(
                    path,
                    describe(action),
                    NOTIFIED,
                    {
                        "target": action.target,
                        "title": render(action.title, variables),
                        "message": render(action.message, variables),
                    },
                    started,
                )
        elif isinstance(action, EventAction):
            if run.recorded(path, EVENT_FIRED) is None:
                data = {
                    "subject": action.subject,
                    "data": render_data(dict(action.data), variables),
                }
                await self.record(path, describe(action), EVENT_FIRED, data, started)
        elif isinstance(action, DelayAction):
            await self.delay(action, path)
        elif isinstance(action, WaitForTriggerAction):
            await self.wait(action, path)
        elif isinstance(action, ChooseAction):
            await self.choose(action, path, started)
        elif isinstance(action, RepeatAction):
            await self.repeat(action, path)
        elif isinstance(action, ParallelAction):
            await asyncio.gather(
                *(
                    self.sequence(branch, f"{path}.b{b}.")
                    for b, branch in enumerate(action.branches)
                )
            )
        elif isinstance(action, ConditionAction):
            if not await self.decide(path, "condition", (action.condition,)):
                raise RunStopped("stopped", f"condition of step {path} does not hold")
        elif isinstance(action, StopAction):
            raise RunStopped("stopped", render(action.reason, variables))
        elif isinstance(action, PythonAction):
            if run.recorded(path, STEP_DONE) is None:
                result = await action.fn(Step(run, path, self.s))
                name = action.name or getattr(action.fn, "__name__", "python")
                await self.record(path, name, STEP_DONE, {"result": _plain(result)}, started)
        else:  # pragma: no cover - every kind is handled above
            raise TypeError(f"unknown action {action!r}")

    async def delay(self, action: DelayAction, path: str) -> None:
        run = self.run
        if run.recorded(path, TIMER_FIRED) is not None:
            return
        name = f"delay:{path}"
        set_data = run.recorded(path, TIMER_SET)
        if set_data is None:
            due = self.s.clock.now() + action.duration
            data = {
                "timer": name,
                "purpose": "delay",
                "path": path,
                "due": due.isoformat(),
                "step": describe(action),
                "at": self.s.clock.now().isoformat(),
            }
            event_id = (await self.s.append_run(run, [(TIMER_SET, data)]))[0]
            self.s.schedule(run.stream, name, due, "delay", data, event_id)
        await run.future(path)

    async def wait(self, action: WaitForTriggerAction, path: str) -> None:
        run = self.run
        ended = run.recorded(path, WAIT_ENDED)
        if ended is None:
            if run.recorded(path, WAIT_STARTED) is None:
                now = self.s.clock.now()
                due = None if action.timeout is None else now + action.timeout
                data = {
                    "path": path,
                    "step": describe(action),
                    "due": None if due is None else due.isoformat(),
                    "after": self.s.position,
                    "at": now.isoformat(),
                }
                event_id = (await self.s.append_run(run, [(WAIT_STARTED, data)]))[0]
                self.s.start_wait(run, path, action, self.s.position, due, event_id)
            ended = await run.future(path)
        if ended.get("timed_out") and not action.continue_on_timeout:
            raise RunStopped("wait timed out", f"wait at step {path} timed out")

    async def choose(self, action: ChooseAction, path: str, started: float) -> None:
        recorded = self.run.recorded(path, STEP_DONE)
        if recorded is None:
            env = self.env()
            chosen = -1
            traces = []
            for i, option in enumerate(action.options):
                results = [check(c, env) for c in option.conditions]
                traces.append([d for _, d in results])
                if all(r for r, _ in results):
                    chosen = i
                    break
            await self.record(
                path, "choose", STEP_DONE, {"result": chosen, "options": traces}, started
            )
        else:
            chosen = int(recorded["result"])
        if chosen >= 0:
            await self.sequence(action.options[chosen].sequence, f"{path}.o{chosen}.")
        elif action.default:
            await self.sequence(action.default, f"{path}.d.")

    async def repeat(self, action: RepeatAction, path: str) -> None:
        index = 0
        while True:
            if action.count is not None and index >= action.count:
                return
            if action.while_ and not await self.decide(
                f"{path}.w{index}", "repeat while", action.while_
            ):
                return
            await self.sequence(action.sequence, f"{path}.r{index}.")
            if action.until and await self.decide(f"{path}.u{index}", "repeat until", action.until):
                return
            index += 1


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return repr(value)
