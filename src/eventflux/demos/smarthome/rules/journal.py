"""The engine's events: what it records, in which streams, and how it reads them back.

Everything the rules engine decides is an event in the store, so a restart
(even a SIGKILL) loses nothing:

- ``automation-<id>``: the automation's own timers (``for:`` durations of
  its triggers, its next time-of-day or cron time): ``smarthome.TimerSet``,
  ``smarthome.TimerFired``, ``smarthome.TimerCancelled``, ``smarthome.TimerSkipped``.
- ``run-<automation id>-<run id>``: one stream per run, its whole trace:
  ``smarthome.RunStarted`` (the trigger and each condition's result),
  ``smarthome.RunQueued``, ``smarthome.RunSkipped`` (conditions failed, or a
  run mode refused it), each step (``smarthome.CommandSent``,
  ``smarthome.EventFired``, ``smarthome.Notified``, ``smarthome.StepDone``,
  the delay's ``TimerSet``/``TimerFired``, ``smarthome.WaitStarted`` /
  ``smarthome.WaitEnded``) with its time, and ``smarthome.RunFinished``.

Events the engine appends while handling a device event carry that event's
position as ``input``: the highest one is where the engine resumes.

Example::

    state = await recover(store)           # pending timers, open runs, the resume point
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ....events import CORRELATION_ID, RecordedEvent
from ....store import EventStore

__all__ = [
    "AUTOMATION_PREFIX",
    "COMMAND_SENT",
    "EVENT_FIRED",
    "NOTIFIED",
    "OUTBOX_TYPES",
    "RUN_FINISHED",
    "RUN_PREFIX",
    "RUN_QUEUED",
    "RUN_SKIPPED",
    "RUN_STARTED",
    "STEP_DONE",
    "TIMER_CANCELLED",
    "TIMER_FIRED",
    "TIMER_SET",
    "TIMER_SKIPPED",
    "WAIT_ENDED",
    "WAIT_STARTED",
    "Recovered",
    "RunRecord",
    "automation_stream",
    "recover",
    "run_stream",
]

AUTOMATION_PREFIX: Final = "automation-"
RUN_PREFIX: Final = "run-"
TIMER_SET: Final = "smarthome.TimerSet"
TIMER_FIRED: Final = "smarthome.TimerFired"
TIMER_CANCELLED: Final = "smarthome.TimerCancelled"
TIMER_SKIPPED: Final = "smarthome.TimerSkipped"
RUN_STARTED: Final = "smarthome.RunStarted"
RUN_QUEUED: Final = "smarthome.RunQueued"
RUN_SKIPPED: Final = "smarthome.RunSkipped"
RUN_FINISHED: Final = "smarthome.RunFinished"
COMMAND_SENT: Final = "smarthome.CommandSent"
EVENT_FIRED: Final = "smarthome.EventFired"
NOTIFIED: Final = "smarthome.Notified"
STEP_DONE: Final = "smarthome.StepDone"
WAIT_STARTED: Final = "smarthome.WaitStarted"
WAIT_ENDED: Final = "smarthome.WaitEnded"
#: the run events that are also messages to publish (the engine's outbox)
OUTBOX_TYPES: Final = (COMMAND_SENT, EVENT_FIRED, NOTIFIED)
_TIMER_ENDS: Final = (TIMER_FIRED, TIMER_CANCELLED, TIMER_SKIPPED)


def automation_stream(automation_id: str) -> str:
    return f"{AUTOMATION_PREFIX}{automation_id}"


def run_stream(automation_id: str, run_id: str) -> str:
    return f"{RUN_PREFIX}{automation_id}-{run_id}"


@dataclass
class RunRecord:
    """A run read back from its stream."""

    stream: str
    run_id: str
    automation_id: str
    status: str  # queued, running, finished, skipped
    trigger: dict[str, Any]
    correlation_id: str
    last_event_id: str
    started_position: int
    #: step path -> {event type: data} of the steps recorded
    journal: dict[str, dict[str, Mapping[str, Any]]] = field(default_factory=dict)
    #: pending timers: name -> (TimerSet data, its event id)
    timers: dict[str, tuple[Mapping[str, Any], str]] = field(default_factory=dict)


@dataclass
class Recovered:
    """What a restarting engine needs: where to resume, what is pending."""

    #: the highest device-event position the engine recorded a decision for
    checkpoint: int = 0
    #: (automation stream, timer name) -> (TimerSet data, its event id)
    automation_timers: dict[tuple[str, str], tuple[Mapping[str, Any], str]] = field(
        default_factory=dict
    )
    #: automation id -> the data of its last TimerFired/TimerSkipped of a time trigger
    runs: dict[str, RunRecord] = field(default_factory=dict)
    #: the run streams in the order they were opened
    order: list[str] = field(default_factory=list)

    def open_runs(self) -> list[RunRecord]:
        return [self.runs[s] for s in self.order if self.runs[s].status in ("queued", "running")]


def _note_input(state: Recovered, data: Mapping[str, Any]) -> None:
    value = data.get("input")
    if isinstance(value, int) and value > state.checkpoint:
        state.checkpoint = value


def _apply_run_event(state: Recovered, e: RecordedEvent) -> None:
    data = e.data
    record = state.runs.get(e.stream)
    if record is None:
        record = RunRecord(
            stream=e.stream,
            run_id=str(data.get("run_id", "")),
            automation_id=str(data.get("automation", "")),
            status="new",
            trigger=dict(data.get("trigger") or {}),
            correlation_id=str(e.metadata.get(CORRELATION_ID) or e.id),
            last_event_id=str(e.id),
            started_position=e.position,
        )
        state.runs[e.stream] = record
        state.order.append(e.stream)
    record.last_event_id = str(e.id)
    if e.type == RUN_QUEUED:
        record.status = "queued"
    elif e.type == RUN_STARTED:
        record.status = "running"
    elif e.type == RUN_SKIPPED:
        record.status = "skipped"
    elif e.type == RUN_FINISHED:
        record.status = "finished"
        record.timers.clear()
    elif e.type == TIMER_SET:
        record.timers[str(data["timer"])] = (data, str(e.id))
    elif e.type in _TIMER_ENDS:
        record.timers.pop(str(data["timer"]), None)
    elif e.type == WAIT_ENDED:
        path = str(data.get("path"))
        for name in [n for n, (d, _) in record.timers.items() if d.get("path") == path]:
            del record.timers[name]
    path = data.get("path")
    if isinstance(path, str):
        record.journal.setdefault(path, {})[e.type] = data


async def recover(store: EventStore) -> Recovered:
    """Read the engine's streams back: its resume point, pending timers, open runs."""
    state = Recovered()
    async for e in store.read_all(stream_prefix=AUTOMATION_PREFIX):
        data = e.data
        _note_input(state, data)
        name = data.get("timer")
        if not isinstance(name, str):
            continue
        key = (e.stream, name)
        if e.type == TIMER_SET:
            state.automation_timers[key] = (data, str(e.id))
        elif e.type in _TIMER_ENDS:
            state.automation_timers.pop(key, None)
    async for e in store.read_all(stream_prefix=RUN_PREFIX):
        _note_input(state, e.data)
        _apply_run_event(state, e)
    return state
