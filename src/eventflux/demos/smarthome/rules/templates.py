"""A small template language for notification texts and action data.

``{{ name.path }}`` is replaced by a value from the run's variables:
``trigger`` (``trigger.entity_id``, ``trigger.to``, ``trigger.id``...),
``automation`` (``automation.id``, ``automation.alias``), ``run_id``, ``now``
(the local time), ``repeat.index`` inside a repeat. Nothing else runs: a
name that is not there renders as an empty string.

Example::

    render("{{ trigger.entity_id }} open for {{ trigger.for }}", {"trigger": {...}})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["render", "render_data"]

_FIELD: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def _lookup(variables: Mapping[str, Any], path: str) -> Any:
    value: Any = variables
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value


def render(text: str, variables: Mapping[str, Any]) -> str:
    """``text`` with each ``{{ path }}`` replaced by its value."""
    if "{{" not in text:
        return text

    def value(m: re.Match[str]) -> str:
        found = _lookup(variables, m.group(1))
        return "" if found is None else str(found)

    return _FIELD.sub(value, text)


def render_data(data: Any, variables: Mapping[str, Any]) -> Any:
    """Every string in ``data`` (mappings and lists included) rendered."""
    if isinstance(data, str):
        return render(data, variables)
    if isinstance(data, Mapping):
        return {k: render_data(v, variables) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [render_data(v, variables) for v in data]
    return data
