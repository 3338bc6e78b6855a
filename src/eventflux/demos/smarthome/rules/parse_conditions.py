"""Reading an automation's conditions: state, numeric_state, time, trigger,
and ``and``/``or``/``not`` of other conditions.

:class:`ConditionReader` is a part of the reader in :mod:`.parse`; the
actions that test conditions (``choose``, ``if``, ``repeat``, ``condition``,
:mod:`.parse_actions`) read them here too.

Example::

    condition = reader.condition(node)  # node: {"condition": "time", "after": "22:00"}
"""

from __future__ import annotations

from typing import Any

from .durations import parse_time_of_day
from .model import (
    WEEKDAYS,
    AndCondition,
    Condition,
    NotCondition,
    NumericStateCondition,
    OrCondition,
    StateCondition,
    TimeCondition,
    TriggerCondition,
)
from .parse_nodes import FieldReader, Node

__all__ = ["ConditionReader"]


class ConditionReader(FieldReader):
    """Reads one condition."""

    def condition(self, node: Node) -> Condition:
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

    def time_of_day(self, node: Node | None) -> Any:
        if node is None:
            return None
        try:
            return parse_time_of_day(node.value)
        except ValueError as e:
            node.fail(str(e))
