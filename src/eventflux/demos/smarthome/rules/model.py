"""Automations as data: triggers, conditions, actions and run modes.

The shapes follow Home Assistant's automations. An :class:`Automation` has
triggers (what starts it), conditions (what must hold when it starts) and
actions (what it does), and a run mode that decides what happens when it
fires again while a run is under way. Build them in Python from these
classes, or load them from YAML or dicts with :func:`~.parse.load_automations`
(the same checks, with the file and line of a mistake).

Example::

    Automation(
        id="hall_light",
        triggers=(StateTrigger(entity_id=("hall.motion",), to=("on",), id="motion"),),
        conditions=(TimeCondition(after=time(22), before=time(6)),),
        actions=(DeviceAction("light.turn_on", ("hall.light",), {"brightness": 80}),),
        mode="restart",
    )
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from typing import Any, ClassVar, Final, Literal

from ....exceptions import ConfigurationError
from .cron import CronSpec

__all__ = [
    "LOG_LEVELS",
    "RUN_MODES",
    "Action",
    "AndCondition",
    "Automation",
    "AutomationError",
    "ChooseAction",
    "ChooseOption",
    "Condition",
    "ConditionAction",
    "CronTrigger",
    "DelayAction",
    "DeviceAction",
    "EventAction",
    "EventTrigger",
    "NotCondition",
    "NotifyAction",
    "NumericStateCondition",
    "NumericStateTrigger",
    "OfflineTrigger",
    "OrCondition",
    "ParallelAction",
    "PythonAction",
    "RepeatAction",
    "StateCondition",
    "StateTrigger",
    "StopAction",
    "TimeCondition",
    "TimeTrigger",
    "Trigger",
    "TriggerCondition",
    "WaitForTriggerAction",
]

RunMode = Literal["single", "restart", "queued", "parallel"]
RUN_MODES: Final = ("single", "restart", "queued", "parallel")
#: what ``max_exceeded`` may say: a log level, or ``silent``
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "silent")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class AutomationError(ConfigurationError):
    """An automation that cannot be loaded: names the file, line and field.

    ``file`` and ``line`` are None for automations built in Python; ``field``
    is the path of the offending field (``triggers[0].to``).
    """

    def __init__(
        self, message: str, *, field: str = "", file: str | None = None, line: int | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.reason = message
        where = f"{file or '<python>'}" + (f":{line}" if line is not None else "")
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {message}")


# -- triggers ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Trigger:
    """Base of the trigger kinds; ``id`` is what ``condition: trigger`` tests
    (default: the trigger's index, as a string)."""

    id: str = ""

    kind: ClassVar[str] = "trigger"


@dataclass(frozen=True, kw_only=True)
class EventTrigger(Trigger):
    """A message on a subject matching ``subject`` (``*`` one token, ``>`` the
    rest), whose data holds every key of ``event_data`` with that value."""

    subject: str
    event_data: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "event"


@dataclass(frozen=True, kw_only=True)
class StateTrigger(Trigger):
    """A change of an entity's state (or of one ``attribute``) that matches
    ``from_``/``to`` (and not ``not_from``/``not_to``); with ``for_`` the new
    value must hold that long (a durable timer)."""

    entity_id: tuple[str, ...]
    attribute: str | None = None
    from_: tuple[Any, ...] | None = None
    to: tuple[Any, ...] | None = None
    not_from: tuple[Any, ...] = ()
    not_to: tuple[Any, ...] = ()
    for_: timedelta | None = None
    kind: ClassVar[str] = "state"


@dataclass(frozen=True, kw_only=True)
class NumericStateTrigger(Trigger):
    """A number crossing into the range ``above < value < below`` (either bound
    may be left out): fires on the crossing, not on every reading inside."""

    entity_id: tuple[str, ...]
    attribute: str | None = None
    above: float | None = None
    below: float | None = None
    for_: timedelta | None = None
    kind: ClassVar[str] = "numeric_state"


@dataclass(frozen=True, kw_only=True)
class TimeTrigger(Trigger):
    """Every day at each of the times of day ``at`` (the engine's time zone)."""

    at: tuple[time, ...]
    kind: ClassVar[str] = "time"


@dataclass(frozen=True, kw_only=True)
class CronTrigger(Trigger):
    """At the times a five-field cron expression names (the engine's time zone)."""

    cron: CronSpec
    kind: ClassVar[str] = "cron"


@dataclass(frozen=True, kw_only=True)
class OfflineTrigger(Trigger):
    """A device going offline (missed heartbeats); ``entity_id`` empty: any device."""

    entity_id: tuple[str, ...] = ()
    kind: ClassVar[str] = "offline"


# -- conditions -------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Condition:
    """Base of the condition kinds."""

    kind: ClassVar[str] = "condition"


@dataclass(frozen=True, kw_only=True)
class StateCondition(Condition):
    """Every entity of ``entity_id`` is in one of the states ``state`` (or its
    ``attribute`` has one of those values), for at least ``for_`` if given."""

    entity_id: tuple[str, ...]
    state: tuple[Any, ...]
    attribute: str | None = None
    for_: timedelta | None = None
    kind: ClassVar[str] = "state"


@dataclass(frozen=True, kw_only=True)
class NumericStateCondition(Condition):
    """Every entity's number is in ``above < value < below``."""

    entity_id: tuple[str, ...]
    attribute: str | None = None
    above: float | None = None
    below: float | None = None
    kind: ClassVar[str] = "numeric_state"


@dataclass(frozen=True, kw_only=True)
class TimeCondition(Condition):
    """The time of day is in ``[after, before)`` (a window may cross midnight)
    and the weekday is one of ``weekday`` (0 = Monday; empty: any day)."""

    after: time | None = None
    before: time | None = None
    weekday: tuple[int, ...] = ()
    kind: ClassVar[str] = "time"


@dataclass(frozen=True, kw_only=True)
class TriggerCondition(Condition):
    """The run was started by a trigger whose id is one of ``id``."""

    id: tuple[str, ...]
    kind: ClassVar[str] = "trigger"


@dataclass(frozen=True, kw_only=True)
class AndCondition(Condition):
    conditions: tuple[Condition, ...]
    kind: ClassVar[str] = "and"


@dataclass(frozen=True, kw_only=True)
class OrCondition(Condition):
    conditions: tuple[Condition, ...]
    kind: ClassVar[str] = "or"


@dataclass(frozen=True, kw_only=True)
class NotCondition(Condition):
    """None of ``conditions`` holds."""

    conditions: tuple[Condition, ...]
    kind: ClassVar[str] = "not"


# -- actions ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Action:
    """Base of the action kinds; ``alias`` names the step in traces."""

    alias: str = ""
    kind: ClassVar[str] = "action"


@dataclass(frozen=True)
class DeviceAction(Action):
    """Send ``<kind>.<command>`` (``light.turn_on``) to each entity of ``entity_id``."""

    action: str
    entity_id: tuple[str, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "device"

    @property
    def command(self) -> str:
        return self.action.partition(".")[2]


@dataclass(frozen=True)
class NotifyAction(Action):
    """A notification to ``target`` (``notify.phone``): recorded and published on
    ``smarthome.notify.<target>``."""

    target: str
    message: str
    title: str = ""
    kind: ClassVar[str] = "notify"


@dataclass(frozen=True)
class EventAction(Action):
    """Publish ``data`` on ``subject``."""

    subject: str
    data: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "event"


@dataclass(frozen=True)
class DelayAction(Action):
    """Wait ``duration`` (a durable timer: an engine restart does not lose it)."""

    duration: timedelta
    kind: ClassVar[str] = "delay"


@dataclass(frozen=True)
class WaitForTriggerAction(Action):
    """Wait until one of ``triggers`` fires, for at most ``timeout``; on a
    timeout the run goes on unless ``continue_on_timeout`` is False."""

    triggers: tuple[Trigger, ...]
    timeout: timedelta | None = None
    continue_on_timeout: bool = True
    kind: ClassVar[str] = "wait_for_trigger"


@dataclass(frozen=True)
class ChooseOption:
    conditions: tuple[Condition, ...]
    sequence: tuple[Action, ...]


@dataclass(frozen=True)
class ChooseAction(Action):
    """Run the sequence of the first option whose conditions hold, else ``default``."""

    options: tuple[ChooseOption, ...]
    default: tuple[Action, ...] = ()
    kind: ClassVar[str] = "choose"


@dataclass(frozen=True)
class RepeatAction(Action):
    """Run ``sequence`` ``count`` times, or while ``while_`` holds (checked
    before each pass), or until ``until`` holds (checked after each pass)."""

    sequence: tuple[Action, ...]
    count: int | None = None
    while_: tuple[Condition, ...] = ()
    until: tuple[Condition, ...] = ()
    kind: ClassVar[str] = "repeat"


@dataclass(frozen=True)
class ParallelAction(Action):
    """Run each branch (a sequence of actions) at the same time; done when all are."""

    branches: tuple[tuple[Action, ...], ...]
    kind: ClassVar[str] = "parallel"


@dataclass(frozen=True)
class ConditionAction(Action):
    """Stop the run here unless ``condition`` holds."""

    condition: Condition
    kind: ClassVar[str] = "condition"


@dataclass(frozen=True)
class StopAction(Action):
    """End the run, saying why."""

    reason: str
    kind: ClassVar[str] = "stop"


@dataclass(frozen=True)
class PythonAction(Action):
    """Call ``await fn(step)`` (a :class:`~.runs.Step`): run once, recorded when done."""

    fn: Callable[[Any], Awaitable[Any]]
    name: str = ""
    kind: ClassVar[str] = "python"


# -- the automation ---------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Automation:
    """One automation. ``mode``: what a trigger does while a run is under way
    (``single``: nothing, ``restart``: stop that run and start anew,
    ``queued``: run after it, ``parallel``: run beside it); ``max``: runs
    running or queued at once (queued, parallel); ``max_exceeded``: the log
    level of a trigger dropped for that (or ``silent``); ``missed``: what a
    time trigger that fell due while the engine was down does on start-up
    (``fire`` once, or ``skip``)."""

    id: str
    triggers: tuple[Trigger, ...]
    actions: tuple[Action, ...]
    conditions: tuple[Condition, ...] = ()
    alias: str = ""
    description: str = ""
    mode: RunMode = "single"
    max: int = 10
    max_exceeded: str = "warning"
    missed: Literal["fire", "skip"] = "fire"
    source: str = ""

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "_-" for c in self.id):
            raise AutomationError(
                "an automation id is letters, digits, '_' and '-'", field="id", file=self.source
            )
        if self.mode not in RUN_MODES:
            raise AutomationError(f"mode must be one of {', '.join(RUN_MODES)}", field="mode")
        if not self.triggers:
            raise AutomationError("an automation needs at least one trigger", field="triggers")
        if self.max < 1:
            raise AutomationError("max must be at least 1", field="max")
        if self.max_exceeded not in LOG_LEVELS:
            raise AutomationError(
                f"max_exceeded must be one of {', '.join(LOG_LEVELS)}", field="max_exceeded"
            )
        if self.missed not in ("fire", "skip"):
            raise AutomationError("missed must be 'fire' or 'skip'", field="missed")
        named = tuple(t if t.id else replace(t, id=str(i)) for i, t in enumerate(self.triggers))
        object.__setattr__(self, "triggers", named)

    @property
    def name(self) -> str:
        """The alias, else the id."""
        return self.alias or self.id
