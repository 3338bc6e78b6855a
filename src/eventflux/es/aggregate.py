"""Aggregates: objects whose state is the fold of their events.

A command method checks a business rule and records an event; an apply method
(one per event class, marked with :func:`apply`) changes the state. Recording
applies the event at once, so the aggregate always shows its latest state, and
keeps it as pending until a :class:`~eventflux.es.Repository` saves it.

Example::

    @register_event("Deposited")
    @dataclass
    class Deposited:
        amount: int

    class Account(Aggregate):
        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.balance = 0

        def deposit(self, amount: int) -> None:
            if amount <= 0:
                raise DomainError("deposits must be positive")
            self.record(Deposited(amount))

        @apply
        def _deposited(self, event: Deposited) -> None:
            self.balance += event.amount

The event class of an apply method comes from the type annotation of its first
parameter (resolved where the class is defined; a union ``A | B`` registers
both), or is named explicitly with ``@apply(Deposited)``. Apply methods are
inherited and can be overridden; an event whose class (or a base class of it)
has no apply method raises :class:`MissingApplyMethodError`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload

from ..exceptions import MissingApplyMethodError
from .event_classes import defining_namespace, event_classes

__all__ = ["Aggregate", "apply"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__eventflux_apply__"
Applier = Callable[[Any, Any], None]


@overload
def apply(target: type[Any], /) -> Callable[[F], F]: ...
@overload
def apply(target: F, /) -> F: ...
def apply(target: Any, /) -> Any:
    """Mark an aggregate method as the apply method of one event class.

    Use bare (``@apply``) to take the class from the annotation of the first
    parameter, or with the class (``@apply(Deposited)``).
    """
    if isinstance(target, type):
        event_class = target

        def mark(fn: F) -> F:
            setattr(fn, _MARK, (event_class,))
            return fn

        return mark
    if not callable(target):
        raise TypeError(f"@apply decorates methods or takes an event class, not {target!r}")
    setattr(target, _MARK, ())
    return target


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """Field names of a dataclass, msgspec Struct or pydantic model class."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    struct_fields = getattr(cls, "__struct_fields__", None)
    if struct_fields is not None:
        return tuple(struct_fields)
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, dict):
        return tuple(model_fields)
    raise TypeError(f"{cls!r} is not a dataclass, msgspec Struct or pydantic model")


class Aggregate:
    """Base class of event-sourced aggregates.

    Subclasses take the id as the only constructor argument (the repository
    builds an empty aggregate, then replays its events into it) and create
    new instances in a classmethod that records the first event.

    Class attributes:

    - ``stream_prefix``: streams are named ``f"{stream_prefix}-{id}"``
      (default: the class name in lower case).
    - ``snapshot_type``: a registered dataclass/Struct holding the state for
      snapshots; by default :meth:`snapshot` fills it from the aggregate
      attributes of the same names and :meth:`restore` sets them back.
    """

    stream_prefix: ClassVar[str | None] = None
    snapshot_type: ClassVar[type[Any] | None] = None
    _appliers: ClassVar[dict[type[Any], Applier]] = {}
    _own_appliers: ClassVar[dict[type[Any], Applier]] = {}
    _dispatch: ClassVar[dict[type[Any], Applier]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        localns = defining_namespace(1)
        own: dict[type[Any], Applier] = {}
        for name, member in cls.__dict__.items():
            if not inspect.isfunction(member):
                continue
            marked = getattr(member, _MARK, None)
            if marked is None:
                continue
            classes = marked or event_classes(
                member, cls, localns, kind="apply method", arities=(2,)
            )
            for event_class in classes:
                if event_class in own:
                    raise TypeError(
                        f"{cls.__qualname__} has two apply methods for "
                        f"{event_class.__qualname__}: {own[event_class].__name__} and {name}"
                    )
                own[event_class] = member
        merged: dict[type[Any], Applier] = {}
        for base in reversed(cls.__mro__[1:]):
            merged.update(base.__dict__.get("_own_appliers", {}))
        merged.update(own)
        cls._own_appliers = own
        cls._appliers = merged
        cls._dispatch = {}

    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id:
            raise ValueError(f"an aggregate id must be a non-empty str, got {id!r}")
        self.id = id
        #: number of events applied so far, pending ones included
        self.version = 0
        self._pending: list[Any] = []
        self._saved_version = 0

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} id={self.id!r} version={self.version}>"

    # -- recording ----------------------------------------------------------------
    def record(self, event: Any) -> None:
        """Apply ``event`` now and keep it pending until the repository saves it.

        Call it from command methods after checking the business rules; the
        apply method must not fail.
        """
        self._applier_for(type(event))(self, event)
        self.version += 1
        self._pending.append(event)

    @property
    def pending_events(self) -> tuple[Any, ...]:
        """Events recorded since the aggregate was loaded or last saved."""
        return tuple(self._pending)

    @property
    def saved_version(self) -> int:
        """The stream version this aggregate was loaded at or last saved to."""
        return self._saved_version

    def collect_events(self) -> list[Any]:
        """Take the pending events (for code that stores them itself).

        The aggregate then counts them as saved.
        """
        events, self._pending = self._pending, []
        self._saved_version = self.version
        return events

    def mark_saved(self, version: int | None = None) -> None:
        """Count the aggregate as stored at ``version`` (default: its current
        version), with nothing pending.

        The repository calls it after appending the pending events, and after
        restoring a snapshot taken at ``version``::

            aggregate.restore(snapshot.data)
            aggregate.mark_saved(snapshot.version)
        """
        if version is not None:
            self.version = version
        self._pending = []
        self._saved_version = self.version

    def replay_event(self, event: Any, version: int) -> None:
        """Apply a stored event while loading: the aggregate is then at stream
        ``version``, with that event counted as saved (not pending).

        The repository replays a stream with it::

            async for e in store.read("account-42"):
                account.replay_event(e.data, e.version)
        """
        self._applier_for(type(event))(self, event)
        self.version = self._saved_version = version

    @classmethod
    def _applier_for(cls, event_class: type[Any]) -> Applier:
        fn = cls._dispatch.get(event_class)
        if fn is None:
            for klass in event_class.__mro__:
                fn = cls._appliers.get(klass)
                if fn is not None:
                    break
            else:
                raise MissingApplyMethodError(
                    f"{cls.__qualname__} has no @apply method for {event_class.__qualname__}; "
                    f"add one taking (self, event: {event_class.__qualname__})"
                    + (
                        " (the stored event type is not registered with the store's codec, "
                        "so it was read as a dict)"
                        if event_class is dict
                        else ""
                    )
                )
            cls._dispatch[event_class] = fn
        return fn

    @classmethod
    def handled_event_classes(cls) -> tuple[type[Any], ...]:
        """The event classes this aggregate has apply methods for."""
        return tuple(cls._appliers)

    # -- snapshots ----------------------------------------------------------------
    def snapshot(self) -> Any:
        """The state to snapshot: an instance of ``snapshot_type`` built from the
        aggregate attributes named like its fields. Override for other shapes."""
        st = type(self).snapshot_type
        if st is None:
            raise TypeError(f"{type(self).__qualname__} has no snapshot_type")
        return st(**{name: getattr(self, name) for name in field_names(st)})

    def restore(self, state: Any) -> None:
        """Set the aggregate attributes from a snapshot made by :meth:`snapshot`."""
        for name in field_names(type(state)):
            setattr(self, name, getattr(state, name))
