"""YAML with line numbers: mappings and lists that remember where each item was.

Loaded with PyYAML's safe loader, with two changes that spare automation
authors the classic YAML 1.1 traps: ``on``/``off``/``yes``/``no`` stay
strings (only ``true``/``false`` are booleans), and ``22:30`` stays a string
(no base-60 numbers). A key given twice in one mapping is an error.

Example::

    data = load_yaml("- id: a\\n  mode: single\\n", "automations.yaml")
    data[0].line_of("mode")     # 2
"""

from __future__ import annotations

import re
from typing import Any

from ....exceptions import MissingExtraError

__all__ = ["LocatedDict", "LocatedList", "YamlSyntaxError", "load_yaml"]


class LocatedDict(dict[Any, Any]):
    """A mapping with the line of its start and of each key (1-based)."""

    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int | None:
        return self.lines.get(key, self.line)


class LocatedList(list[Any]):
    """A list with the line of its start and of each item (1-based)."""

    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int | None:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class YamlSyntaxError(ValueError):
    """The text is not valid YAML: ``line`` says where (1-based), ``problem`` what."""

    def __init__(self, problem: str, line: int | None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(problem)


def _loader_class() -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError as e:  # pragma: no cover - the cli extra brings PyYAML
        raise MissingExtraError("automations in YAML", "cli", "pyyaml") from e

    class Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
        pass

    bool_tag, int_tag, float_tag = (
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
    )
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (bool_tag, int_tag, float_tag)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    Loader.add_implicit_resolver(
        int_tag,
        re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+|0o[0-7_]+)$"),
        list("-+0123456789"),
    )
    Loader.add_implicit_resolver(
        float_tag,
        re.compile(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
            r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?)$"
        ),
        list("-+0123456789."),
    )

    def mapping(loader: Any, node: Any) -> LocatedDict:
        loader.flatten_mapping(node)
        result = LocatedDict()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in result:
                raise YamlSyntaxError(f"the key {key!r} is given twice in one mapping", line)
            result[key] = loader.construct_object(value_node, deep=True)
            result.lines[key] = line
        return result

    def sequence(loader: Any, node: Any) -> LocatedList:
        result = LocatedList()
        result.line = node.start_mark.line + 1
        for item in node.value:
            result.append(loader.construct_object(item, deep=True))
            result.lines.append(item.start_mark.line + 1)
        return result

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return Loader


_LOADER: Any = None


def load_yaml(text: str, name: str = "<yaml>") -> Any:
    """Parse ``text``; mappings and lists come back as :class:`LocatedDict` and
    :class:`LocatedList`. Raises :class:`YamlSyntaxError` with the line."""
    global _LOADER
    if _LOADER is None:
        _LOADER = _loader_class()
    import yaml  # type: ignore[import-untyped,unused-ignore]

    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = None if mark is None else mark.line + 1
        raise YamlSyntaxError(str(e.problem or e), line) from e
    except yaml.YAMLError as e:
        raise YamlSyntaxError(str(e), None) from e
