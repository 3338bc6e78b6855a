"""Reading automations field by field: a value with its field path and line.

A :class:`Node` is one value being read (a mapping, a list, a scalar) with
the path of its field (``automations[2].triggers[0].to``) and its line in
the file, so that every mistake is an :class:`~.model.AutomationError`
naming both. A mapping remembers which keys were read: one nobody read is
an unknown field. :class:`FieldReader` is the base of the readers of each
section (:mod:`.parse_triggers`, :mod:`.parse_conditions`,
:mod:`.parse_actions`): what they read against, and the fields they all
read the same way.

Example::

    node = Node(reader, {"trigger": "state", "to": "on"}, "triggers[0]", 3)
    node.need("trigger").text()     # "state"
    node.done()                     # AutomationError: unknown field 'to'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from typing import Any, Final, NoReturn

from .durations import parse_duration
from .located import LocatedDict, LocatedList
from .model import AutomationError

__all__ = ["FieldReader", "Node", "show"]

_ENTITY: Final = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class Node:
    """A value being read, with its field path and line."""

    def __init__(self, reader: FieldReader, value: Any, path: str, line: int | None) -> None:
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
    def mapping(self, what: str) -> Node:
        if not isinstance(self.value, Mapping):
            self.fail(f"expected {what} (a mapping), got {show(self.value)}")
        return self

    def has(self, key: str) -> bool:
        return key in self.value

    def child(self, key: str, *aliases: str) -> Node | None:
        for name in (key, *aliases):
            if name in self.value:
                self.used.add(name)
                line = (
                    self.value.line_of(name) if isinstance(self.value, LocatedDict) else self.line
                )
                return Node(self.r, self.value[name], _join(self.path, name), line)
        return None

    def need(self, key: str, *aliases: str) -> Node:
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
            self.fail(f"expected a non-empty string, got {show(self.value)}")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            self.fail(f"expected a number, got {show(self.value)}")
        return float(self.value)

    def integer(self, minimum: int) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected a whole number, got {show(self.value)}")
        if self.value < minimum:
            self.fail(f"must be at least {minimum}, got {self.value}")
        return self.value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {show(self.value)}")
        return self.value

    def duration(self) -> timedelta:
        try:
            return parse_duration(self.value)
        except ValueError as e:
            self.fail(str(e))

    def items(self) -> list[Node]:
        """The items of a list (a single value counts as a list of one)."""
        if not isinstance(self.value, list):
            return [Node(self.r, self.value, self.path, self.line)]
        out = []
        for i, item in enumerate(self.value):
            line = self.value.line_of(i) if isinstance(self.value, LocatedList) else self.line
            out.append(Node(self.r, item, f"{self.path}[{i}]", line))
        return out

    def texts(self) -> tuple[str, ...]:
        return tuple(n.text() for n in self.items())

    def values(self) -> tuple[Any, ...]:
        """States to compare with: strings, numbers or booleans (a list or one)."""
        out = []
        for n in self.items():
            if not isinstance(n.value, str | int | float | bool) and n.value is not None:
                n.fail(f"expected a state value, got {show(n.value)}")
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


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class FieldReader:
    """The base of the section readers: what they read against (set by the
    reader that combines them), and the fields read the same way in each."""

    file: str | None
    entities: set[str] | None
    catalog: Mapping[str, Collection[str]] | None

    def list_of(self, node: Node | None, read: Callable[[Node], Any]) -> list[Any]:
        if node is None:
            return []
        return [read(n) for n in node.items()]

    def optional_text(self, node: Node, key: str) -> str | None:
        found = node.child(key)
        return None if found is None else found.text()

    def optional_duration(self, node: Node, key: str) -> timedelta | None:
        found = node.child(key)
        return None if found is None else found.duration()

    def bounds(self, node: Node) -> tuple[float | None, float | None]:
        above_node, below_node = node.child("above"), node.child("below")
        above = above_node.number() if above_node else None
        below = below_node.number() if below_node else None
        if above is None and below is None:
            node.fail("give 'above', 'below' or both")
        if above is not None and below is not None and above >= below:
            node.fail(f"'above' ({above:g}) must be less than 'below' ({below:g})", "above")
        return above, below
