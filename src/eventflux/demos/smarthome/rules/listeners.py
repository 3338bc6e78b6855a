"""Which triggers a device event concerns, and what it does to each.

Triggers are indexed by entity (state and numeric triggers), plus the list of
event-pattern triggers and of offline triggers, so a reading is checked only
against the triggers that could fire on it. :func:`outcome` tells, for one
trigger and one reading, whether the trigger fires now, whether its ``for:``
condition still holds (an armed timer that no longer holds is cancelled),
and what the run will see of it.

Example::

    index = TriggerIndex()
    index.add(owner, 0, StateTrigger(entity_id=("hall.motion",), to=("on",)))
    for owner, i, trigger in index.candidates(reading): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ....bus.subjects import compile_pattern
from .durations import format_duration
from .evaluate import holds_to, in_range, numeric_crossed, same, state_change_matches
from .model import EventTrigger, NumericStateTrigger, OfflineTrigger, StateTrigger, Trigger
from .world import OFFLINE, Entity, Reading

__all__ = ["Outcome", "TriggerIndex", "outcome"]

OwnerT = TypeVar("OwnerT")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a reading does to a trigger: ``fires`` (now, or arms its ``for:``
    timer), ``holds`` (its ``for:`` condition still holds; None when it has
    none or the reading does not concern it) and the trigger's data for the run."""

    fires: bool
    holds: bool | None
    info: dict[str, Any]


class TriggerIndex(Generic[OwnerT]):
    """Triggers of many owners (automations, waits), indexed for readings."""

    def __init__(self) -> None:
        self.by_entity: dict[str, list[tuple[OwnerT, int, Trigger]]] = {}
        self.events: list[tuple[OwnerT, int, EventTrigger, Callable[[str], bool]]] = []
        self.offline: list[tuple[OwnerT, int, OfflineTrigger]] = []

    def add(self, owner: OwnerT, index: int, trigger: Trigger) -> None:
        if isinstance(trigger, StateTrigger | NumericStateTrigger):
            for entity_id in trigger.entity_id:
                self.by_entity.setdefault(entity_id, []).append((owner, index, trigger))
        elif isinstance(trigger, EventTrigger):
            self.events.append((owner, index, trigger, compile_pattern(trigger.subject)))
        elif isinstance(trigger, OfflineTrigger):
            self.offline.append((owner, index, trigger))

    def remove_owner(self, owner: OwnerT) -> None:
        for entity_id, entries in list(self.by_entity.items()):
            kept = [e for e in entries if e[0] is not owner]
            if kept:
                self.by_entity[entity_id] = kept
            else:
                del self.by_entity[entity_id]
        self.events = [e for e in self.events if e[0] is not owner]
        self.offline = [e for e in self.offline if e[0] is not owner]

    def candidates(self, reading: Reading) -> Iterator[tuple[OwnerT, int, Trigger]]:
        """The triggers ``reading`` may fire or release."""
        if reading.entity_id is not None:
            yield from self.by_entity.get(reading.entity_id, ())
        for owner, index, trigger, match in self.events:
            if match(reading.subject) and _subset(trigger.event_data, reading.data):
                yield owner, index, trigger
        if reading.event == OFFLINE:
            for owner, index, offline in self.offline:
                if not offline.entity_id or reading.entity_id in offline.entity_id:
                    yield owner, index, offline


def _subset(wanted: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    if not wanted:
        return True
    return all(k in data and same(data[k], v) for k, v in wanted.items())


def outcome(
    trigger: Trigger, index: int, reading: Reading, before: Entity | None, after: Entity | None
) -> Outcome:
    """What ``reading`` (which changed the entity from ``before`` to ``after``)
    does to ``trigger``."""
    info: dict[str, Any] = {
        "id": trigger.id,
        "idx": index,
        "kind": trigger.kind,
        "entity_id": reading.entity_id,
        "event_id": reading.event_id,
        "position": reading.position,
        "at": reading.at.isoformat(),
    }
    if isinstance(trigger, StateTrigger | NumericStateTrigger):
        attribute = trigger.attribute
        old = None if before is None else before.value(attribute)
        new = None if after is None else after.value(attribute)
        known = before is not None and (attribute is None or attribute in before.attributes)
        label = reading.entity_id if attribute is None else f"{reading.entity_id}.{attribute}"
        info.update({"attribute": attribute, "from": old, "to": new})
        if trigger.for_ is not None:
            info["for"] = format_duration(trigger.for_)
        if isinstance(trigger, StateTrigger):
            fires = state_change_matches(trigger, old, new, known)
            holds = holds_to(trigger, new) if trigger.for_ is not None else None
            info["description"] = f"{label} changed from {old} to {new}"
        else:
            fires = numeric_crossed(trigger, old, new, known)
            holds = in_range(new, trigger.above, trigger.below) is True if trigger.for_ else None
            bounds = " and ".join(
                text
                for text in (
                    f"above {trigger.above:g}" if trigger.above is not None else "",
                    f"below {trigger.below:g}" if trigger.below is not None else "",
                )
                if text
            )
            info.update(above=trigger.above, below=trigger.below)
            info["description"] = f"{label} went {bounds}: {old} -> {new}"
        if fires and trigger.for_ is not None:
            info["description"] += f" and stayed for {format_duration(trigger.for_)}"
        return Outcome(fires, holds, info)
    if isinstance(trigger, EventTrigger):
        info.update(subject=reading.subject, data=dict(reading.data))
        info["description"] = f"message on {reading.subject}"
        return Outcome(True, None, info)
    if isinstance(trigger, OfflineTrigger):
        info["description"] = f"{reading.entity_id} went offline (missed heartbeats)"
        return Outcome(True, None, info)
    return Outcome(False, None, info)
