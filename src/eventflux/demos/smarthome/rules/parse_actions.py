"""Reading an automation's actions: device commands and notifications, events,
delays, waits, choices, repeats, parallel branches, conditions and stops.

An action's kind is told by its key (``action:``/``service:``, ``event:``,
``delay:`` ...); device commands are checked against the home's catalog when
one is given. :class:`ActionReader` is a part of the reader in :mod:`.parse`.

Example::

    actions = reader.sequence(node)     # node: [{"action": "light.turn_on", ...}, ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from ....bus.subjects import validate_subject
from .located import LocatedDict
from .model import (
    Action,
    ChooseAction,
    ChooseOption,
    Condition,
    ConditionAction,
    DelayAction,
    DeviceAction,
    EventAction,
    NotifyAction,
    ParallelAction,
    RepeatAction,
    StopAction,
    Trigger,
    WaitForTriggerAction,
)
from .parse_nodes import FieldReader, Node

__all__ = ["ActionReader"]

_WAIT_KINDS: Final = ("event", "state", "numeric_state", "offline")


class ActionReader(FieldReader):
    """Reads a sequence of actions."""

    if TYPE_CHECKING:  # TriggerReader's and ConditionReader's (the other section readers)

        def trigger(self, node: Node, *, allowed: tuple[str, ...] | None = None) -> Trigger: ...

        def condition(self, node: Node) -> Condition: ...

    def sequence(self, node: Node) -> tuple[Action, ...]:
        actions = tuple(self.action(n) for n in node.items())
        if not actions:
            node.fail("give at least one action")
        return actions

    def action(self, node: Node) -> Action:
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
                self.condition(Node(self, inner, node.path, node.line)), alias=alias
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

    def call(self, node: Node, alias: str) -> Action:
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

    def repeat(self, node: Node, alias: str) -> RepeatAction:
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
