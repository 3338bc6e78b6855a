"""Marking projection handlers, and finding a projection class's handlers.

A handler is a method marked with :func:`handles`; the event class it handles
comes from the annotation of its first parameter after ``self`` (as for
aggregate apply methods), or is named in the decorator, as a class or as a
stored type name (for events read as dicts).

Example::

    class Catalog(Projection):
        @handles
        def added(self, event: ProductAdded, tx: Transaction) -> None: ...

        @handles("shop.LegacyAdded")
        def legacy(self, event: dict, tx: Transaction, e: RecordedEvent) -> None: ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from ..es.event_classes import event_classes

__all__ = ["HandlerEntry", "handles", "own_handlers"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__eventflux_handles__"
#: a handler, and whether it takes the RecordedEvent as well
HandlerEntry = tuple[Callable[..., Any], bool]


@overload
def handles(target: type[Any] | str, /) -> Callable[[F], F]: ...
@overload
def handles(target: F, /) -> F: ...
def handles(target: Any, /) -> Any:
    """Mark a projection method as the handler of an event class.

    Bare (``@handles``) takes the class from the first parameter's
    annotation; ``@handles(ProductAdded)`` names the class and
    ``@handles("ProductAdded")`` a stored type name (for events read as dicts).
    """
    if isinstance(target, type | str):
        key = target

        def mark(fn: F) -> F:
            setattr(fn, _MARK, (key,))
            return fn

        return mark
    if not callable(target):
        raise TypeError(f"@handles decorates methods or takes an event class, not {target!r}")
    setattr(target, _MARK, ())
    return target


def own_handlers(cls: type[Any], localns: dict[str, Any]) -> dict[type[Any] | str, HandlerEntry]:
    """The handlers ``cls`` itself defines (not inherited), by event class or type
    name; ``localns`` resolves annotations of classes defined inside functions.

    Raises TypeError for two handlers of one event, or a handler of the wrong shape.
    """
    own: dict[type[Any] | str, HandlerEntry] = {}
    for attr, member in cls.__dict__.items():
        if not inspect.isfunction(member) or not hasattr(member, _MARK):
            continue
        keys: tuple[type[Any] | str, ...] = getattr(member, _MARK) or event_classes(
            member, cls, localns, kind="projection handler", arities=(3, 4)
        )
        takes_recorded = len(inspect.signature(member).parameters) == 4
        for key in keys:
            if key in own:
                label = key if isinstance(key, str) else key.__qualname__
                raise TypeError(f"{cls.__qualname__} has two handlers for {label}: {attr}")
            own[key] = (member, takes_recorded)
    return own
