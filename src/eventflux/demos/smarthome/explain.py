"""Answers to "why did the hall light turn on at 02:13?", from the event store.

:func:`explain` finds the device event that put an entity in a state (the
latest one at or before a time), follows its correlation id through the
causal chain (:func:`eventflux.observability.trace`) and says which
automation run caused it: the trigger, each condition's result, the steps.
:func:`run_steps` reads one run's trace from its stream.

Example::

    answer = await explain(store, "hall.light", state="on", at=two_thirteen)
    print("\\n".join(answer.lines))
    # hall.light turned on at 02:13:04 ...
    #   because automation 'Hall light at night' ran (run 0190...):
    #   trigger 'motion': hall.motion changed from off to on
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...events import CORRELATION_ID, RecordedEvent
from ...observability import trace
from ...observability.trace import Trace
from ...store import EventStore
from .rules.evaluate import same
from .rules.journal import (
    COMMAND_SENT,
    EVENT_FIRED,
    NOTIFIED,
    RUN_FINISHED,
    RUN_QUEUED,
    RUN_SKIPPED,
    RUN_STARTED,
    STEP_DONE,
    TIMER_FIRED,
    TIMER_SET,
    WAIT_ENDED,
    WAIT_STARTED,
)
from .rules.world import device_stream, parse_time

__all__ = ["Explanation", "explain", "outbox_subject", "run_steps"]


def outbox_subject(event: RecordedEvent) -> str | None:
    """The bus subject a run's outbox event is published to (None for others)."""
    data = event.data
    if event.type == COMMAND_SENT:
        room, _, device = str(data.get("entity_id")).partition(".")
        return f"home.{room}.{device}.command"
    if event.type == EVENT_FIRED:
        return str(data.get("subject"))
    if event.type == NOTIFIED:
        return f"smarthome.notify.{data.get('target')}"
    return None


def _conditions_text(conditions: Any) -> str:
    if not conditions:
        return "none"
    parts = []
    for c in conditions:
        kind = c.get("condition")
        detail = ""
        if kind == "time":
            window = f"{c.get('after') or ''}-{c.get('before') or ''}"
            detail = f" {window} (it was {c.get('now')})"
        elif kind in ("state", "numeric_state"):
            detail = f" {c.get('seen')}"
        elif kind == "trigger":
            detail = f" id in {c.get('id')}"
        parts.append(f"{kind}{detail}: {'true' if c.get('result') else 'false'}")
    return "; ".join(parts)


def _step_line(e: RecordedEvent) -> str | None:
    data = e.data
    at = str(data.get("at", ""))[11:19]
    if e.type == COMMAND_SENT:
        return f"{at} step {data.get('path')}: {data.get('action')} {data.get('entity_id')} sent"
    if e.type == NOTIFIED:
        return f"{at} step {data.get('path')}: notify.{data.get('target')} {data.get('message')!r}"
    if e.type == EVENT_FIRED:
        return f"{at} step {data.get('path')}: event {data.get('subject')}"
    if e.type == TIMER_SET and data.get("purpose") == "delay":
        return (
            f"{at} step {data.get('path')}: {data.get('step')} until {str(data.get('due'))[11:19]}"
        )
    if e.type == WAIT_STARTED:
        return f"{at} step {data.get('path')}: waiting for a trigger"
    if e.type == WAIT_ENDED:
        how = (
            "timed out" if data.get("timed_out") else (data.get("trigger") or {}).get("description")
        )
        return f"{at} step {data.get('path')}: wait ended: {how}"
    if e.type == STEP_DONE:
        return f"{at} step {data.get('path')}: {data.get('step')} -> {data.get('result')}"
    if e.type == RUN_FINISHED:
        reason = data.get("reason") or data.get("error") or ""
        return f"{at} run {data.get('outcome')}" + (f": {reason}" if reason else "")
    return None


@dataclass
class Explanation:
    """Why an entity came to be in a state: the event, its chain, the runs."""

    entity_id: str
    event: RecordedEvent | None
    chain: Trace | None
    runs: list[RecordedEvent] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def correlation_id(self) -> str | None:
        return None if self.chain is None else self.chain.correlation_id


async def _change_event(
    store: EventStore, entity_id: str, state: Any, at: datetime | None
) -> RecordedEvent | None:
    """The latest event (at or before ``at``) that moved the entity into ``state``."""
    found: RecordedEvent | None = None
    target = state
    async for e in store.read(device_stream(entity_id), backwards=True):
        data = e.data
        if "state" not in data:
            continue
        if at is not None and parse_time(data.get("at"), e.recorded_at) > at:
            continue
        value = data["state"]
        if found is None and target is None:
            target = value
        if not same(value, target):
            return found  # None: at that time it was in another state
        found = e
    return found


async def explain(
    store: EventStore,
    entity_id: str,
    *,
    state: Any = None,
    at: datetime | None = None,
    subject_of: Callable[[RecordedEvent], str | None] | None = outbox_subject,
) -> Explanation:
    """Why ``entity_id`` was in ``state`` at ``at`` (default: its state now)."""
    event = await _change_event(store, entity_id, state, at)
    if event is None:
        return Explanation(entity_id, None, None, [], [f"{entity_id}: no such state change found"])
    correlation = str(event.metadata.get(CORRELATION_ID) or event.id)
    chain = await trace(store, correlation, subject_of=subject_of)
    when = parse_time(event.data.get("at"), event.recorded_at)
    lines = [
        f"{entity_id} turned {event.data.get('state')} at {when.strftime('%H:%M:%S')} "
        f"({event.type} #{event.position}, actor {event.metadata.get('actor', 'none')})"
    ]
    runs = [e for e in chain.events if e.type == RUN_STARTED]
    for run in runs:
        data = run.data
        trigger = data.get("trigger") or {}
        lines.append(f"  because automation {data.get('alias')!r} ran (run {data.get('run_id')})")
        lines.append(f"  trigger {trigger.get('id')!r}: {trigger.get('description')}")
        lines.append(f"  conditions: {_conditions_text(data.get('conditions'))}")
        steps = [e for e in chain.events if e.stream == run.stream and e.type != RUN_STARTED]
        for step in steps:
            line = _step_line(step)
            if line is not None:
                lines.append(f"    {line}")
    if not runs:
        lines.append("  no automation did it: " + (chain.nodes[0].name if chain.nodes else "?"))
    lines.append(f"  causal chain: {len(chain.nodes)} hops, correlation id {correlation}")
    return Explanation(entity_id, event, chain, runs, lines)


async def run_steps(store: EventStore, stream: str) -> dict[str, Any]:
    """One run's trace from its stream: the trigger, conditions and timed steps."""
    out: dict[str, Any] = {"stream": stream, "steps": [], "lines": []}
    async for e in store.read(stream):
        data: Mapping[str, Any] = e.data
        if e.type in (RUN_STARTED, RUN_QUEUED, RUN_SKIPPED) and "trigger" in data:
            out.update(
                run_id=data.get("run_id"),
                automation=data.get("automation"),
                alias=data.get("alias"),
                trigger=data.get("trigger"),
                conditions=data.get("conditions"),
                conditions_text=_conditions_text(data.get("conditions")),
                correlation_id=e.metadata.get(CORRELATION_ID),
                started_at=data.get("at"),
            )
            if e.type == RUN_SKIPPED:
                out["outcome"] = data.get("reason")
        elif e.type == RUN_FINISHED:
            out["outcome"] = data.get("outcome")
            out["finished_at"] = data.get("at")
        if e.type == TIMER_FIRED and data.get("path") is None:
            continue
        line = _step_line(e)
        if line is not None:
            out["lines"].append(line)
        out["steps"].append({"type": e.type, "position": e.position, **dict(data)})
    return out
