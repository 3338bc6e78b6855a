"""Loading automations from YAML, or from lists of dicts in Python.

The format is Home Assistant's (``triggers``/``trigger:`` or the older
``trigger``/``platform:`` spelling both work), with three additions: the
``cron`` and ``offline`` triggers, ``subject`` for event triggers (bus
subjects with ``*`` and ``>`` wildcards), and ``missed: fire|skip`` for time
triggers that fell due while the engine was down. Every mistake is an
:class:`~.model.AutomationError` naming the file, the line and the field;
unknown fields are mistakes too (a ``too:`` meant as ``to:`` is caught).

This module holds the entry points and the reading of an automation's own
fields. Each of its sections has its own reader: :mod:`.parse_triggers`,
:mod:`.parse_conditions`, :mod:`.parse_actions`; the values they read are
:class:`~.parse_nodes.Node` objects (:mod:`.parse_nodes`).

Example::

    automations = load_automations_file("automations.yaml", catalog=CATALOG)
    automations = load_automations([{"id": "a", "triggers": [...], "actions": [...]}])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from .located import YamlSyntaxError, load_yaml
from .model import Automation, AutomationError
from .parse_actions import ActionReader
from .parse_conditions import ConditionReader
from .parse_nodes import Node, show
from .parse_triggers import TriggerReader

__all__ = ["load_automations", "load_automations_file", "load_automations_text"]


class _Reader(ActionReader, ConditionReader, TriggerReader):
    def __init__(
        self,
        file: str | None,
        entities: Collection[str] | None,
        catalog: Mapping[str, Collection[str]] | None,
    ) -> None:
        self.file = file
        self.entities = None if entities is None else set(entities)
        self.catalog = catalog

    def automation(self, node: Node, seen: set[str]) -> Automation:
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
            ("alias", Node.text),
            ("description", Node.text),
            ("max_exceeded", Node.text),
            ("missed", Node.text),
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
    root = Node(reader, data, "", getattr(data, "line", None))
    if isinstance(data, Mapping) and "automations" in data:
        root = root.need("automations")
    if not isinstance(root.value, list):
        root.fail(f"expected a list of automations, got {show(root.value)}")
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
