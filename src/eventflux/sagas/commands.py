"""Commands in a saga's records: a command a reaction sends is stored with its
type and fields, so a process that did not compute the reaction can send it
again after a crash.

A command is a dataclass, a msgspec Struct or a pydantic model (what an App's
command handlers take). Its type is stored as ``module:QualifiedName`` and
found again among the App's command types (or imported).

Example::

    doc = encode_command(ReserveStock("o-1", 2))
    # {"type": "shop.commands:ReserveStock", "data": {"order_id": "o-1", "qty": 2}}
    cmd = decode_command(doc, known={"shop.commands:ReserveStock": ReserveStock})
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ..codec import dumps
from ..exceptions import DeserializationError, SerializationError

__all__ = ["decode_command", "encode_command", "type_path", "type_paths"]


def type_path(cls: type[Any]) -> str:
    """``module:QualifiedName`` of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def type_paths(types: Iterable[type[Any]]) -> dict[str, type[Any]]:
    """``{type_path(t): t}`` for ``types``."""
    return {type_path(t): t for t in types}


def _fields(command: object) -> Any:
    if hasattr(command, "model_dump"):  # pydantic
        return command.model_dump(mode="json")
    if dataclasses.is_dataclass(command) or isinstance(command, msgspec.Struct):
        return msgspec.to_builtins(command)
    raise SerializationError(
        f"a saga sends commands that are dataclasses, msgspec Structs or pydantic "
        f"models, not {type(command).__name__}"
    )


def encode_command(command: object) -> dict[str, Any]:
    """The stored form of ``command``: ``{"type": "module:Name", "data": {...}}``."""
    if isinstance(command, type):
        raise TypeError(f"send a command instance, not the class {command.__qualname__}")
    try:
        data = _fields(command)
    except (TypeError, ValueError) as e:
        raise SerializationError(f"command {type(command).__name__} cannot be stored: {e}") from e
    dumps(data, what=f"command {type(command).__name__}")  # JSON-compatible, or a clear error
    return {"type": type_path(type(command)), "data": data}


def _import(path: str) -> type[Any]:
    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise DeserializationError(f"cannot find the command class {path!r}: {e}") from e
    if not isinstance(obj, type):
        raise DeserializationError(f"{path!r} is not a class")
    return obj


def decode_command(doc: Mapping[str, Any], known: Mapping[str, type[Any]]) -> object:
    """The command a stored form describes (its class from ``known``, else imported)."""
    path = str(doc["type"])
    cls = known.get(path) or _import(path)
    data = doc["data"]
    try:
        if hasattr(cls, "model_validate"):
            return cls.model_validate(data)
        return msgspec.convert(data, cls)
    except (msgspec.ValidationError, TypeError, ValueError) as e:
        raise DeserializationError(f"stored command {path!r} cannot be rebuilt: {e}") from e
