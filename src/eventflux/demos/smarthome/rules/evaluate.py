"""Evaluating conditions, and the predicates of the device triggers.

:func:`check` evaluates a condition against the world, the time and the
trigger that started the run, and returns the result with what it looked
at: the trace of every run records it.

Example::

    ok, detail = check(TimeCondition(after=time(22), before=time(6)), env)
    # (True, {"condition": "time", "result": True, "now": "02:13:04", ...})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from typing import Any

from .model import (
    WEEKDAYS,
    AndCondition,
    Condition,
    NotCondition,
    NumericStateCondition,
    NumericStateTrigger,
    OrCondition,
    StateCondition,
    StateTrigger,
    TimeCondition,
    TriggerCondition,
)
from .world import World

__all__ = ["Env", "check", "check_all", "in_range", "number", "same", "state_change_matches"]


@dataclass(frozen=True, slots=True)
class Env:
    """What a condition sees: the world, the time (and its zone), the trigger."""

    world: World
    now: datetime
    tz: tzinfo
    trigger: Mapping[str, Any]


def same(a: Any, b: Any) -> bool:
    """States compare as text too (``21`` matches ``"21"``; ``true`` matches ``"on"`` no)."""
    return a == b or (a is not None and b is not None and str(a) == str(b))


def _any_same(value: Any, options: tuple[Any, ...]) -> bool:
    return any(same(value, o) for o in options)


def number(value: Any) -> float | None:
    """A float from a number or a numeric string, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def in_range(value: Any, above: float | None, below: float | None) -> bool | None:
    """``above < value < below`` (None when the value is not a number)."""
    n = number(value)
    if n is None:
        return None
    return (above is None or n > above) and (below is None or n < below)


def holds_to(trigger: StateTrigger, value: Any) -> bool:
    """The ``to`` side of a state trigger holds for ``value``."""
    if trigger.to is not None and not _any_same(value, trigger.to):
        return False
    return not (trigger.not_to and _any_same(value, trigger.not_to))


def state_change_matches(trigger: StateTrigger, old: Any, new: Any, known: bool) -> bool:
    """A change from ``old`` to ``new`` fires ``trigger`` (``known``: an old
    value existed; a first reading changes nothing)."""
    if not known or same(old, new):
        return False
    if trigger.from_ is not None and not _any_same(old, trigger.from_):
        return False
    if trigger.not_from and _any_same(old, trigger.not_from):
        return False
    return holds_to(trigger, new)


def numeric_crossed(trigger: NumericStateTrigger, old: Any, new: Any, known: bool) -> bool:
    """``new`` is in range and ``old`` was a number outside it: a crossing."""
    if not known:
        return False
    was, now_in = (
        in_range(old, trigger.above, trigger.below),
        in_range(new, trigger.above, trigger.below),
    )
    return now_in is True and was is False


def _local(env: Env) -> datetime:
    return env.now.astimezone(env.tz)


def _in_window(now: time, after: time | None, before: time | None) -> bool:
    if after is not None and before is not None and before <= after:  # crosses midnight
        return now >= after or now < before
    return (after is None or now >= after) and (before is None or now < before)


def check(condition: Condition, env: Env) -> tuple[bool, dict[str, Any]]:
    """Evaluate ``condition``: its result, and a trace of what it saw."""
    detail: dict[str, Any] = {"condition": condition.kind}
    result: bool
    if isinstance(condition, StateCondition):
        seen = {}
        result = True
        for entity_id in condition.entity_id:
            entity = env.world.get(entity_id)
            value = None if entity is None else entity.value(condition.attribute)
            seen[entity_id] = value
            ok = entity is not None and _any_same(value, condition.state)
            if ok and condition.for_ is not None:
                since = entity.last_changed if entity is not None else None
                ok = since is not None and env.now - since >= condition.for_
            result = result and ok
        detail.update(entity_id=list(condition.entity_id), state=list(condition.state), seen=seen)
        if condition.attribute:
            detail["attribute"] = condition.attribute
    elif isinstance(condition, NumericStateCondition):
        seen = {}
        result = True
        for entity_id in condition.entity_id:
            entity = env.world.get(entity_id)
            value = None if entity is None else entity.value(condition.attribute)
            seen[entity_id] = value
            result = result and in_range(value, condition.above, condition.below) is True
        detail.update(above=condition.above, below=condition.below, seen=seen)
    elif isinstance(condition, TimeCondition):
        local = _local(env)
        result = _in_window(local.time(), condition.after, condition.before)
        if condition.weekday:
            result = result and local.weekday() in condition.weekday
            detail["weekday"] = [WEEKDAYS[d] for d in condition.weekday]
        detail.update(
            now=local.strftime("%a %H:%M:%S"),
            after=condition.after.isoformat() if condition.after else None,
            before=condition.before.isoformat() if condition.before else None,
        )
    elif isinstance(condition, TriggerCondition):
        result = str(env.trigger.get("id")) in condition.id
        detail.update(id=list(condition.id), trigger_id=env.trigger.get("id"))
    elif isinstance(condition, AndCondition | OrCondition | NotCondition):
        results = [check(c, env) for c in condition.conditions]
        oks = [ok for ok, _ in results]
        if isinstance(condition, AndCondition):
            result = all(oks)
        elif isinstance(condition, OrCondition):
            result = any(oks)
        else:
            result = not any(oks)
        detail["conditions"] = [d for _, d in results]
    else:  # pragma: no cover - every kind is handled above
        raise TypeError(f"unknown condition {condition!r}")
    detail["result"] = result
    return result, detail


def check_all(conditions: tuple[Condition, ...], env: Env) -> tuple[bool, list[dict[str, Any]]]:
    """All of ``conditions`` (each is evaluated, for the trace)."""
    results = [check(c, env) for c in conditions]
    return all(ok for ok, _ in results), [d for _, d in results]
