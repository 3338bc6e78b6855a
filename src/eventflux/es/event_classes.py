"""Find the event class(es) a handler method is for, from its type annotation.

Shared by aggregate apply methods and projection handlers: dispatch is by the
class of the event, never by a string switch.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["classes_of", "defining_namespace", "event_classes"]


def classes_of(hint: Any) -> tuple[type[Any], ...]:
    """The classes of a hint: ``A`` or a union ``A | B``; anything else is a TypeError."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(c for arg in typing.get_args(hint) for c in classes_of(arg))
    if isinstance(hint, type):
        return (hint,)
    raise TypeError(f"{hint!r} is not an event class")


def defining_namespace(depth: int) -> dict[str, Any]:
    """Local names of the frame running a class statement, for resolving annotations
    of classes defined inside functions (``depth`` frames above the caller)."""
    frame = sys._getframe(depth + 1)
    if frame.f_code.co_name == "__init_subclass__":
        return {}  # a subclass hook in between: module globals only
    return dict(frame.f_locals)


def event_classes(
    fn: Callable[..., Any],
    owner: type[Any],
    localns: dict[str, Any],
    *,
    kind: str,
    arities: tuple[int, ...],
) -> tuple[type[Any], ...]:
    """The event classes named by the annotation of ``fn``'s first parameter after self."""
    where = f"{owner.__qualname__}.{getattr(fn, '__name__', fn)}"
    params = list(inspect.signature(fn).parameters.values())
    if len(params) not in arities:
        shapes = " or ".join(str(n) for n in arities)
        raise TypeError(f"{kind} {where} must take exactly {shapes} parameters (self included)")
    try:
        hints = typing.get_type_hints(fn, localns={**localns, owner.__name__: owner})
    except NameError as e:
        raise TypeError(
            f"cannot resolve the event class of {kind} {where}: {e}; "
            "define the event class first or name it in the decorator"
        ) from None
    hint = hints.get(params[1].name)
    if hint is None:
        raise TypeError(
            f"{kind} {where} needs the event class as the annotation of "
            f"{params[1].name!r}, or the class named in the decorator"
        )
    try:
        return classes_of(hint)
    except TypeError as e:
        raise TypeError(f"{kind} {where}: {e}") from None
