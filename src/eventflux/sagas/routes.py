"""The decorators that route inputs to a saga's methods: ``@starts``,
``@handles`` and ``@timeout``, and the table a saga class keeps of them.

Example::

    class Fulfilment(Saga):
        @starts("OrderPlaced", key=lambda e: e.data["order_id"])
        async def placed(self, e): ...

        @handles(subject="payments.charged", key=lambda m: m.data["order_id"])
        async def paid(self, msg): ...

        @timeout("pay")
        async def unpaid(self): ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from ..bus.subjects import validate_subject
from ..codec import default_codec
from ..exceptions import ConfigurationError

__all__ = ["Route", "RouteTable", "handles", "starts", "timeout"]

F = TypeVar("F", bound=Callable[..., Any])
KeyFunction = Callable[[Any], str]
Kind = Literal["starts", "handles"]

_ROUTE_ATTR: Final = "__eventflux_saga_routes__"
_TIMEOUT_ATTR: Final = "__eventflux_saga_timeouts__"


@dataclass(frozen=True, slots=True)
class Route:
    """One ``@starts`` or ``@handles``: what it listens to and how it finds the key.

    Exactly one of ``event_type`` (a store event type) and ``subject`` (a bus
    subject pattern) is set; ``method`` names the saga method to call.
    """

    kind: Kind
    method: str
    key: KeyFunction
    event_type: str | None = None
    subject: str | None = None

    @property
    def starts(self) -> bool:
        return self.kind == "starts"

    @property
    def source(self) -> str:
        """What the route listens to: the event type or the subject pattern."""
        return self.event_type if self.event_type is not None else f"subject {self.subject}"


@dataclass(frozen=True, slots=True)
class RouteTable:
    """Every route and timeout of one saga class, checked when the class is made."""

    by_type: Mapping[str, Route] = field(default_factory=dict)
    by_subject: Mapping[str, Route] = field(default_factory=dict)
    timeouts: Mapping[str, str] = field(default_factory=dict)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self.by_type)

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(self.by_subject)

    @property
    def empty(self) -> bool:
        return not self.by_type and not self.by_subject


def _type_name(event_type: object) -> str:
    if isinstance(event_type, str):
        if not event_type:
            raise ConfigurationError("an event type name is a non-empty str")
        return event_type
    if isinstance(event_type, type):
        registered = _registered_name(event_type)
        if registered is not None:
            return registered
        name = event_type.__name__
        other = default_codec.class_for(name)
        if other is not None and other is not event_type:
            raise ConfigurationError(
                f"the event type {name!r} is registered to {other!r}, not "
                f"{event_type!r}: give the type name as a str"
            )
        return name
    raise TypeError(f"an event type is a str or an event class, not {event_type!r}")


def _registered_name(cls: type[Any]) -> str | None:
    """The name ``cls`` is registered under with the default codec, if any (the
    codec names the type of an object, so it is asked about a bare one)."""
    try:
        probe = object.__new__(cls)
    except Exception:
        return None
    return default_codec.type_name_of(probe)


def _route(kind: Kind, event_type: object, key: object, subject: object) -> Callable[[F], F]:
    if not callable(key):
        raise TypeError(f"@{kind} needs key=<function of the event or message>, not {key!r}")
    if (event_type is None) == (subject is None):
        raise ConfigurationError(
            f"@{kind} takes a store event type or subject='...', exactly one of them"
        )
    name = None if event_type is None else _type_name(event_type)
    pattern = None if subject is None else validate_subject(subject, pattern=True)

    def mark(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@{kind} decorates a method, not {fn!r}")
        routes = list(getattr(fn, _ROUTE_ATTR, ()))
        routes.append((kind, name, pattern, key))
        setattr(fn, _ROUTE_ATTR, tuple(routes))
        return fn

    return mark


def starts(
    event_type: object = None, /, *, key: KeyFunction, subject: str | None = None
) -> Callable[[F], F]:
    """Route a store event type (or bus messages on ``subject``) to this method,
    creating the instance for ``key(event)`` if there is none yet.

    Example::

        @starts("OrderPlaced", key=lambda e: e.data["order_id"])
        async def placed(self, e): ...
    """
    return _route("starts", event_type, key, subject)


def handles(
    event_type: object = None, /, *, key: KeyFunction, subject: str | None = None
) -> Callable[[F], F]:
    """Route a store event type (or bus messages on ``subject``) to this method
    of the existing instance for ``key(event)``; with no instance it is ignored.

    Example::

        @handles("PaymentCharged", key=lambda e: e.data["order_id"])
        async def paid(self, e): ...
    """
    return _route("handles", event_type, key, subject)


def timeout(name: str) -> Callable[[F], F]:
    """Run this method (``async def m(self)``) when the deadline ``name`` is due.

    Example::

        @timeout("pay")
        async def unpaid(self): ...
    """
    if not isinstance(name, str) or not name or not name.isprintable() or len(name) > 100:
        raise ConfigurationError(f"a deadline name is 1 to 100 printable characters, not {name!r}")

    def mark(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@timeout decorates a method, not {fn!r}")
        names = (*getattr(fn, _TIMEOUT_ATTR, ()), name)
        setattr(fn, _TIMEOUT_ATTR, names)
        return fn

    return mark


def collect_routes(cls: type[Any]) -> RouteTable:
    """The route table of a saga class (its own methods and inherited ones)."""
    by_type: dict[str, Route] = {}
    by_subject: dict[str, Route] = {}
    timeouts: dict[str, str] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for attr, fn in vars(klass).items():
            if attr in seen:
                continue  # overridden in a subclass: the subclass's decorators count
            seen.add(attr)
            for kind, type_name, pattern, key in getattr(fn, _ROUTE_ATTR, ()):
                route = Route(kind, attr, key, type_name, pattern)
                table, what = (
                    (by_type, type_name) if type_name is not None else (by_subject, pattern)
                )
                assert what is not None
                old = table.get(what)
                if old is not None:
                    raise ConfigurationError(
                        f"saga {cls.__name__}: {route.source} goes to both "
                        f"{old.method!r} and {attr!r}; route it to one method"
                    )
                table[what] = route
            for name in getattr(fn, _TIMEOUT_ATTR, ()):
                if name in timeouts:
                    raise ConfigurationError(
                        f"saga {cls.__name__}: deadline {name!r} has two @timeout "
                        f"methods ({timeouts[name]!r} and {attr!r})"
                    )
                timeouts[name] = attr
    return RouteTable(by_type, by_subject, timeouts)
