"""Loading automations from YAML, or from lists of dicts in Python.

The format is Home Assistant's (``triggers``/``trigger:`` or the older
``trigger``/``platform:`` spelling both work), with three additions: the
``cron`` and ``offline`` triggers, ``subject`` for event triggers (bus
subjects with ``*`` and ``>`` wildcards), and ``missed: fire|skip`` for time
triggers that fell due while the engine was down. Every mistake is an
:class:`~.model.AutomationError` naming the file, the line and the field;
unknown fields are mistakes too (a ``too:`` meant as ``to:`` is caught).

Example::

    automations = load_automations_file("automations.yaml", catalog=CATALOG)
    automations = load_automations([{"id": "a", "triggers": [...], "actions": [...]}])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, NoReturn

from ....bus.subjects import validate_subject
from .cron import CronError, CronSpec
from .durations import parse_duration, parse_time_of_day
from .located import LocatedDict, LocatedList, YamlSyntaxError, load_yaml
from .model import (
    WEEKDAYS,
    Action,
    AndCondition,
    Automation,
    AutomationError,
    ChooseAction,
    ChooseOption,
    Condition,
    ConditionAction,
    CronTrigger,
    DelayAction,
    DeviceAction,
    EventAction,
    EventTrigger,
    NotCondition,
    NotifyAction,
    NumericStateCondition,
    NumericStateTrigger,
    OfflineTrigger,
    OrCondition,
    ParallelAction,
    RepeatAction,
    StateCondition,
    StateTrigger,
    StopAction,
    TimeCondition,
    TimeTrigger,
    Trigger,
    TriggerCondition,
    WaitForTriggerAction,
)

__all__ = ["load_automations", "load_automations_file", "load_automations_text"]

_ENTITY: Final = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_AUTOMATION_KEYS: Final = {
    "id",
    "alias",
    "description",
    "mode",
    "max",
    "max_exceeded",
    "missed",
    "triggers",
    "trigger",
    "conditions",
    "condition",
    "actions",
    "action",
}
_WAIT_KINDS: Final = ("event", "state", "numeric_state", "offline")


class _Node:
    """A value being read, with its field path and line."""

    def __init__(self, reader: _Reader, value: Any, path: str, line: int | None) -> None:
        self.r = reader
        self.value = value
        self.path = path
        self.line = line
        self.used: set[Any] = set()

    def fail(self, message: str, key: Any = None) -> NoReturn:
        line = self.line
        path = self.path
        if key is not None:
            path = f"{path}.{key}" if path else str(key)
            if isinstance(self.value, LocatedDict):
                line = self.value.line_of(key)
        raise AutomationError(message, field=path, file=self.r.file, line=line)

    # -- mappings ---------------------------------------------------------------------
    def mapping(self, what: str) -> _Node:
        if not isinstance(self.value, Mapping):
            self.fail(f"expected {what} (a mapping), got {_show(self.value)}")
        return self

    def has(self, key: str) -> bool:
        return key in self.value

    def child(self, key: str, *aliases: str) -> _Node | None:
        for name in (key, *aliases):
            if name in self.value:
                self.used.add(name)
                line = (
                    self.value.line_of(name) if isinstance(self.value, LocatedDict) else self.line
                )
                return _Node(self.r, self.value[name], _join(self.path, name), line)
        return None

    def need(self, key: str, *aliases: str) -> _Node:
        found = self.child(key, *aliases)
        if found is None:
            self.fail(f"{key!r} is required")
        return found

    def done(self) -> None:
        """Fail on a key nobody read (a typo, or a field of another kind)."""
        for key in self.value:
            if key not in self.used:
                self.fail(f"unknown field {key!r}", key)

    # -- scalars ----------------------------------------------------------------------
    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            self.fail(f"expected a non-empty string, got {_show(self.value)}")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            self.fail(f"expected a number, got {_show(self.value)}")
        return float(self.value)

    def integer(self, minimum: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected a whole number, got {_show(self.value)}")
        if self.value < minimum:
            self.fail(f"must be at least {minimum}, got {self.value}")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {_show(self.value)}")
        return self.value

    def duration(self) -> timedelta:
        try:
            return parse_duration(self.value)
        except ValueError as e:
            self.fail(str(e))

    def items(self) -> list[_Node]:
        """The items of a list (a single value counts as a list of one)."""
        if not isinstance(self.value, list):
            return [_Node(self.r, self.value, self.path, self.line)]
        out = []
        for i, item in enumerate(self.value):
            line = self.value.line_of(i) if isinstance(self.value, LocatedList) else self.line
            out.append(_Node(self.r, item, f"{self.path}[{i}]", line))
        return out

    def texts(self) -> tuple[str, ...]:
        return tuple(n.text() for n in self.items())

    def values(self) -> tuple[Any, ...]:
        """States to compare with: strings, numbers or booleans (a list or one)."""
        out = []
        for n in self.items():
            if not isinstance(n.value, str | int | float | bool) and n.value is not None:
                n.fail(f"expected a state value, got {_show(n.value)}")
            out.append(n.value)
        return tuple(out)

    def entities(self) -> tuple[str, ...]:
        found = []
        for n in self.items():
            entity = n.text()
            if not _ENTITY.match(entity):
                n.fail(f"an entity id is '<room>.<device>', got {entity!r}")
            if self.r.entities is not None and entity not in self.r.entities:
                n.fail(f"no device {entity!r} in this home")
            found.append(entity)
        if not found:
            self.fail("name at least one entity")
        return tuple(found)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader:
    def __init__(
        self,
        file: str | None,
        entities: Collection[str] | None,
        catalog: Mapping[str, Collection[str]] | None,
    ) -> None:
        self.file = file
        self.entities = None if entities is None else set(entities)
        self.catalog = catalog

    # -- automations ------------------------------------------------------------------
    def automation(self, node: _Node, seen: set[str]) -> Automation:
        node.mapping("an automation")
        automation_id = node.need("id").text()
        if automation_id in seen:
            node.fail(f"a second automation with id {automation_id!r}", "id")
        seen.add(automation_id)
        mode_node = node.child("mode")
        mode = mode_node.text() if mode_node else "single"
        triggers = self.list_of(node.need("triggers", "trigger"), self.trigger)
        conditions_node = node.child("conditions", "condition")
        conditions = self.list_of(conditions_node, self.condition) if conditions_node else ()
        actions = self.sequence(node.need("actions", "action"))
        fields: dict[str, Any] = {}
        for key, read in (
            ("alias", _Node.text),
            ("description", _Node.text),
            ("max_exceeded", _Node.text),
            ("missed", _Node.text),
        ):
            found = node.child(key)
            if found is not None:
                fields[key] = read(found)
        max_node = node.child("max")
        if max_node is not None:
            fields["max"] = max_node.integer(1)
        node.done()
        try:
            return Automation(
                id=automation_id,
                triggers=tuple(triggers),
                conditions=tuple(conditions),
                actions=actions,
                mode=mode,  # type: ignore[arg-type]
                source=f"{self.file or '<python>'}:{node.line or 0}",
                **fields,
            )
        except AutomationError as e:
            node.fail(e.reason, e.field or None)

    def list_of(self, node: _Node | None, read: Callable[[_Node], Any]) -> list[Any]:
        if node is None:
            return []
        return [read(n) for n in node.items()]

    # -- triggers ---------------------------------------------------------------------
    def trigger(self, node: _Node, *, allowed: tuple[str, ...] | None = None) -> Trigger:
        node.mapping("a trigger")
        kind = node.need("trigger", "platform").text()
        if allowed is not None and kind not in allowed:
            node.fail(f"a wait takes {', '.join(allowed)} triggers, not {kind!r}", "trigger")
        id_node = node.child("id")
        common: dict[str, Any] = {"id": id_node.text() if id_node else ""}
        trigger: Trigger
        if kind == "event":
            subject_node = node.need("subject", "event_type")
            subject = subject_node.text()
            try:
                validate_subject(subject, pattern=True)
            except ValueError as e:
                subject_node.fail(str(e))
            data_node = node.child("event_data")
            data = dict(data_node.mapping("event data").value) if data_node else {}
            trigger = EventTrigger(subject=subject, event_data=data, **common)
        elif kind == "state":
            to, from_ = node.child("to"), node.child("from")
            not_to, not_from = node.child("not_to"), node.child("not_from")
            trigger = StateTrigger(
                entity_id=node.need("entity_id").entities(),
                attribute=self.optional_text(node, "attribute"),
                to=to.values() if to else None,
                from_=from_.values() if from_ else None,
                not_to=not_to.values() if not_to else (),
                not_from=not_from.values() if not_from else (),
                for_=self.optional_duration(node, "for"),
                **common,
            )
        elif kind == "numeric_state":
            above, below = self.bounds(node)
            trigger = NumericStateTrigger(
                entity_id=node.need("entity_id").entities(),
                attribute=self.optional_text(node, "attribute"),
                above=above,
                below=below,
                for_=self.optional_duration(node, "for"),
                **common,
            )
        elif kind == "time":
            times = []
            for n in node.need("at").items():
                try:
                    times.append(parse_time_of_day(n.value))
                except ValueError as e:
                    n.fail(str(e))
            trigger = TimeTrigger(at=tuple(times), **common)
        elif kind == "cron":
            cron_node = node.need("cron")
            try:
                spec = CronSpec.parse(cron_node.text())
            except CronError as e:
                cron_node.fail(str(e))
            trigger = CronTrigger(cron=spec, **common)
        elif kind == "offline":
            entity_node = node.child("entity_id")
            trigger = OfflineTrigger(
                entity_id=entity_node.entities() if entity_node else (), **common
            )
        else:
            node.fail(
                f"unknown trigger {kind!r} (event, state, numeric_state, time, cron, offline)",
                "trigger" if node.has("trigger") else "platform",
            )
        node.done()
        return trigger

    def optional_text(self, node: _Node, key: str) -> str | None:
        found = node.child(key)
        return None if found is None else found.text()

    def optional_duration(self, node: _Node, key: str) -> timedelta | None:
        found = node.child(key)
        return None if found is None else found.duration()

    def bounds(self, node: _Node) -> tuple[float | None, float | None]:
        above_node, below_node = node.child("above"), node.child("below")
        above = above_node.number() if above_node else None
        below = below_node.number() if below_node else None
        if above is None and below is None:
            node.fail("give 'above', 'below' or both")
        if above is not None and below is not None and above >= below:
            node.fail(f"'above' ({above:g}) must be less than 'below' ({below:g})", "above")
        return above, below

    # -- conditions -------------------------------------------------------------------
    def condition(self, node: _Node) -> Condition:
        node.mapping("a condition")
        kind = node.need("condition").text()
        condition: Condition
        if kind == "state":
            condition = StateCondition(
                entity_id=node.need("entity_id").entities(),
                state=node.need("state").values(),
                attribute=self.optional_text(node, "attribute"),
                for_=self.optional_duration(node, "for"),
            )
        elif kind == "numeric_state":
            above, below = self.bounds(node)
            condition = NumericStateCondition(
                entity_id=node.need("entity_id").entities(),
                attribute=self.optional_text(node, "attribute"),
                above=above,
                below=below,
            )
        elif kind == "time":
            after, before = node.child("after"), node.child("before")
            weekday_node = node.child("weekday")
            weekdays = []
            for n in weekday_node.items() if weekday_node else []:
                day = n.text().lower()
                if day not in WEEKDAYS:
                    n.fail(f"a weekday is one of {', '.join(WEEKDAYS)}, got {day!r}")
                weekdays.append(WEEKDAYS.index(day))
            if after is None and before is None and not weekdays:
                node.fail("give 'after', 'before' or 'weekday'")
            condition = TimeCondition(
                after=self.time_of_day(after),
                before=self.time_of_day(before),
                weekday=tuple(weekdays),
            )
        elif kind == "trigger":
            condition = TriggerCondition(id=node.need("id").texts())
        elif kind in ("and", "or", "not"):
            inner = tuple(self.list_of(node.need("conditions"), self.condition))
            if not inner:
                node.fail(f"'{kind}' needs at least one condition", "conditions")
            cls = {"and": AndCondition, "or": OrCondition, "not": NotCondition}[kind]
            condition = cls(conditions=inner)
        else:
            node.fail(
                f"unknown condition {kind!r} (state, numeric_state, time, trigger, and, or, not)",
                "condition",
            )
        node.done()
        return condition

    def time_of_day(self, node: _Node | None) -> Any:
        if node is None:
            return None
        try:
            return parse_time_of_day(node.value)
        except ValueError as e:
            node.fail(str(e))

    # -- actions ----------------------------------------------------------------------
    def sequence(self, node: _Node) -> tuple[Action, ...]:
        actions = tuple(self.action(n) for n in node.items())
        if not actions:
            node.fail("give at least one action")
        return actions

    def action(self, node: _Node) -> Action:
        node.mapping("an action")
        alias_node = node.child("alias")
        alias = alias_node.text() if alias_node else ""
        action: Action
        if node.has("action") or node.has("service"):
            action = self.call(node, alias)
        elif node.has("event"):
            data_node = node.child("event_data")
            subject_node = node.need("event")
            subject = subject_node.text()
            try:
                validate_subject(subject)
            except ValueError as e:
                subject_node.fail(str(e))
            data = dict(data_node.mapping("event data").value) if data_node else {}
            action = EventAction(subject, data, alias=alias)
        elif node.has("delay"):
            action = DelayAction(node.need("delay").duration(), alias=alias)
        elif node.has("wait_for_trigger"):
            triggers = [
                self.trigger(n, allowed=_WAIT_KINDS) for n in node.need("wait_for_trigger").items()
            ]
            timeout = self.optional_duration(node, "timeout")
            go_on = node.child("continue_on_timeout")
            action = WaitForTriggerAction(
                tuple(triggers), timeout, go_on.boolean() if go_on else True, alias=alias
            )
        elif node.has("choose"):
            options = []
            for n in node.need("choose").items():
                n.mapping("a choice")
                conditions = tuple(self.list_of(n.need("conditions", "condition"), self.condition))
                options.append(ChooseOption(conditions, self.sequence(n.need("sequence"))))
                n.done()
            default = node.child("default")
            action = ChooseAction(
                tuple(options), self.sequence(default) if default else (), alias=alias
            )
        elif node.has("if"):
            conditions = tuple(self.list_of(node.need("if"), self.condition))
            otherwise = node.child("else")
            action = ChooseAction(
                (ChooseOption(conditions, self.sequence(node.need("then"))),),
                self.sequence(otherwise) if otherwise else (),
                alias=alias,
            )
        elif node.has("repeat"):
            action = self.repeat(node.need("repeat").mapping("a repeat"), alias)
        elif node.has("parallel"):
            branches = []
            for n in node.need("parallel").items():
                if isinstance(n.value, Mapping) and "sequence" in n.value and len(n.value) == 1:
                    branches.append(self.sequence(n.need("sequence")))
                    n.done()
                else:
                    branches.append((self.action(n),))
            action = ParallelAction(tuple(branches), alias=alias)
        elif node.has("condition"):
            inner = LocatedDict({k: v for k, v in node.value.items() if k != "alias"})
            if isinstance(node.value, LocatedDict):
                inner.line, inner.lines = node.value.line, node.value.lines
            action = ConditionAction(
                self.condition(_Node(self, inner, node.path, node.line)), alias=alias
            )
            node.used.update(node.value)
        elif node.has("stop"):
            action = StopAction(node.need("stop").text(), alias=alias)
        else:
            node.fail(
                "an action is one of action, event, delay, wait_for_trigger, choose, if, "
                f"repeat, parallel, condition, stop; got {', '.join(map(str, node.value)) or '{}'}"
            )
        node.done()
        return action

    def call(self, node: _Node, alias: str) -> Action:
        name_node = node.need("action", "service")
        name = name_node.text()
        kind, dot, command = name.partition(".")
        if not dot or not kind or not command:
            name_node.fail(f"an action is '<kind>.<command>' (light.turn_on), got {name!r}")
        data_node = node.child("data")
        data = dict(data_node.mapping("action data").value) if data_node else {}
        if kind == "notify":
            message = data.pop("message", None)
            if not isinstance(message, str) or not message:
                (data_node or node).fail("a notification needs data.message (a string)")
            title = data.pop("title", "")
            if data:
                (data_node or node).fail(f"unknown notification field(s) {', '.join(data)}")
            return NotifyAction(command, message, str(title), alias=alias)
        if self.catalog is not None:
            commands = self.catalog.get(kind)
            if commands is None:
                name_node.fail(
                    f"no device kind {kind!r} (known: {', '.join(sorted(self.catalog))})"
                )
            if command not in commands:
                name_node.fail(f"{kind} has no command {command!r} ({', '.join(sorted(commands))})")
        target = node.child("target")
        if target is not None:
            target.mapping("a target")
            entities = target.need("entity_id").entities()
            target.done()
        else:
            entities = node.need("entity_id").entities()
        return DeviceAction(name, entities, data, alias=alias)

    def repeat(self, node: _Node, alias: str) -> RepeatAction:
        sequence = self.sequence(node.need("sequence"))
        count_node = node.child("count")
        while_node, until_node = node.child("while"), node.child("until")
        given = [n for n in (count_node, while_node, until_node) if n is not None]
        if len(given) != 1:
            node.fail("a repeat takes exactly one of count, while, until")
        action = RepeatAction(
            sequence,
            count=count_node.integer(0) if count_node else None,
            while_=tuple(self.list_of(while_node, self.condition)),
            until=tuple(self.list_of(until_node, self.condition)),
            alias=alias,
        )
        node.done()
        return action


def load_automations(
    data: Any,
    *,
    file: str | None = None,
    entities: Collection[str] | None = None,
    catalog: Mapping[str, Collection[str]] | None = None,
) -> list[Automation]:
    """Automations from a list of mappings (loaded YAML, or dicts in Python).

    ``entities`` (the devices of the home) and ``catalog`` (device kind ->
    its commands), when given, are checked too.
    """
    reader = _Reader(file, entities, catalog)
    root = _Node(reader, data, "", getattr(data, "line", None))
    if isinstance(data, Mapping) and "automations" in data:
        root = root.need("automations")
    if not isinstance(root.value, list):
        root.fail(f"expected a list of automations, got {_show(root.value)}")
    seen: set[str] = set()
    return [reader.automation(n, seen) for n in root.items()]


def load_automations_text(
    text: str,
    file: str = "<yaml>",
    *,
    entities: Collection[str] | None = None,
    catalog: Mapping[str, Collection[str]] | None = None,
) -> list[Automation]:
    """Automations from YAML text (``file`` names it in errors)."""
    try:
        data = load_yaml(text, file)
    except YamlSyntaxError as e:
        raise AutomationError(f"not valid YAML: {e.problem}", file=file, line=e.line) from e
    if data is None:
        return []
    return load_automations(data, file=file, entities=entities, catalog=catalog)


def load_automations_file(
    path: str | Path,
    *,
    entities: Collection[str] | None = None,
    catalog: Mapping[str, Collection[str]] | None = None,
) -> list[Automation]:
    """Automations from a YAML file."""
    path = Path(path)
    return load_automations_text(
        path.read_text(encoding="utf-8"), str(path), entities=entities, catalog=catalog
    )
