"""The :class:`Saga` base class: what a saga's handlers can do in one reaction.

A saga reacts to store events and bus messages (``@starts``, ``@handles``)
and to its own deadlines (``@timeout``). Each reaction may change
``self.state``, send commands, publish messages, set or cancel deadlines,
register compensations and finish the instance; the runtime commits all of it
as one unit after the handler returns, then sends and publishes.

Example::

    class Fulfilment(Saga):
        @starts("OrderPlaced", key=lambda e: e.data["order_id"])
        async def placed(self, e):
            self.state["status"] = "reserving"
            self.send(ReserveStock(e.data["order_id"]))
            self.compensate(ReleaseStock(e.data["order_id"]))
            self.deadline(timedelta(minutes=15), "pay")

        @timeout("pay")
        async def unpaid(self):
            self.finish("cancelled", compensate=True)   # ReleaseStock is sent
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar

from ..bus.subjects import validate_subject
from ..bus.subscription import check_text
from ..codec import dumps
from ..exceptions import ConfigurationError, NoHandlerError
from .clock import due_time
from .commands import encode_command
from .records import Deadline
from .routes import RouteTable, collect_routes

__all__ = ["Outgoing", "Reaction", "Saga"]

_MISSING: Any = object()


@dataclass(slots=True)
class Outgoing:
    """A command to send (``kind == "send"``) or a message to publish, as one
    reaction recorded it. ``command`` is the object given to ``send`` (None when
    rebuilt from the store)."""

    kind: str
    doc: dict[str, Any]
    command: object | None = None


@dataclass(slots=True)
class Reaction:
    """What one reaction of a saga decided (read by the runtime when the
    handler returns, and by tests)."""

    now: datetime
    timeouts: Mapping[str, str]
    can_send: Callable[[type[Any]], bool] | None = None
    outgoing: list[Outgoing] = field(default_factory=list)
    #: name -> the pending deadline (seq 0: set by this reaction)
    deadlines: dict[str, Deadline] = field(default_factory=dict)
    compensations: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    outcome: str | None = None


def _step(step: object, data: object, key: str | None) -> tuple[Outgoing, dict[str, Any]]:
    if isinstance(step, str):
        if data is _MISSING:
            raise TypeError("compensate(subject, data) needs the message data")
        subject = validate_subject(step)
        dumps(data, what=f"data for {subject!r}")
        doc = {"subject": subject, "data": data}
        if key is not None:
            doc["key"] = check_text("key", key)
        return Outgoing("publish", doc), {"kind": "publish", **doc}
    if data is not _MISSING:
        raise TypeError(
            "compensate(command) takes one command; compensate(subject, data) publishes"
        )
    doc = encode_command(step)
    return Outgoing("send", doc, step), {"kind": "send", **doc}


class Saga:
    """A process manager: state, commands, messages and deadlines that survive
    crashes. Subclass it, decorate methods with ``@starts``, ``@handles`` and
    ``@timeout``, and register the class with ``app.saga(cls)``.

    Class attributes: ``name`` (default: the class name; it names the
    instance streams, so keep it when renaming the class), and the settings
    of the saga's bus consumer: ``max_deliver``, ``backoff``,
    ``concurrency``, ``ack_wait``.

    During a reaction: ``self.key``, ``self.state`` (a JSON-compatible dict,
    persisted), ``self.now`` (the reaction's time, from the runtime's clock),
    ``self.deadlines`` (name -> due time of the pending ones),
    ``self.finished``, ``self.outcome``, ``self.correlation_id``.
    """

    name: ClassVar[str] = "Saga"
    max_deliver: ClassVar[int] = 5
    backoff: ClassVar[tuple[float, float]] = (0.1, 30.0)
    concurrency: ClassVar[int] = 64
    ack_wait: ClassVar[float] = 30.0
    routes: ClassVar[RouteTable] = RouteTable()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        cls.routes = collect_routes(cls)

    def __init__(
        self,
        key: str = "",
        state: dict[str, Any] | None = None,
        *,
        reaction: Reaction | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.key = key
        self.state: dict[str, Any] = {} if state is None else state
        self.correlation_id = correlation_id
        self.reaction = reaction or Reaction(datetime.now(UTC), type(self).routes.timeouts)

    # -- what a handler reads ------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The time this reaction started (aware UTC, from the runtime's clock)."""
        return self.reaction.now

    @property
    def deadlines(self) -> Mapping[str, datetime]:
        """Pending deadlines: name -> due time (including this reaction's changes)."""
        return MappingProxyType({n: d.due for n, d in self.reaction.deadlines.items()})

    @property
    def finished(self) -> bool:
        return self.reaction.finished

    @property
    def outcome(self) -> str | None:
        return self.reaction.outcome

    @property
    def compensations(self) -> tuple[dict[str, Any], ...]:
        """The registered compensations, oldest first (each a stored step)."""
        return tuple(self.reaction.compensations)

    # -- what a handler does ---------------------------------------------------------------
    def send(self, command: object) -> None:
        """Send ``command`` through the App's command handlers once this reaction
        has committed. Its command id is derived from (saga, key, input, index),
        so a send repeated after a crash carries the same id."""
        check = self.reaction.can_send
        if check is not None and not check(type(command)):
            raise NoHandlerError("command", type(command))
        self.reaction.outgoing.append(Outgoing("send", encode_command(command), command))

    def publish(
        self,
        subject: str,
        data: Any,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Publish ``data`` to ``subject`` once this reaction has committed, with a
        ``msg_id`` derived from (saga, key, input, index) (dedup absorbs a repeat)."""
        validate_subject(subject)
        dumps(data, what=f"data for {subject!r}")
        doc: dict[str, Any] = {"subject": subject, "data": data}
        if key is not None:
            doc["key"] = check_text("key", key)
        if headers:
            doc["headers"] = {str(k): str(v) for k, v in headers.items()}
        self.reaction.outgoing.append(Outgoing("publish", doc))

    def deadline(self, when: object, name: str) -> datetime:
        """Set the deadline ``name``: ``when`` is seconds or a ``timedelta`` from
        now (this reaction's time) or an aware ``datetime``. Setting a pending
        name again reschedules it. Returns the due time.

        The ``@timeout(name)`` method runs once it is due, unless it is
        cancelled or the instance finishes first.
        """
        if name not in self.reaction.timeouts:
            raise ConfigurationError(
                f"saga {type(self).name}: no @timeout({name!r}) method for this deadline"
            )
        due = due_time(when, self.now)
        self.reaction.deadlines[name] = Deadline(due, 0)
        return due

    def cancel_deadline(self, name: str) -> bool:
        """Cancel the pending deadline ``name``; True if one was pending."""
        return self.reaction.deadlines.pop(name, None) is not None

    def compensate(self, step: object, data: Any = _MISSING, *, key: str | None = None) -> None:
        """Register a compensation for a step that completed: a command
        (``compensate(ReleaseStock(id))``) or a message
        (``compensate("stock.release", {"order_id": id})``). Compensations run
        in reverse order of registration when the saga finishes with
        ``compensate=True`` or is cancelled from outside."""
        _, stored = _step(step, data, key)
        if stored["kind"] == "send":
            check = self.reaction.can_send
            if check is not None and not check(type(step)):
                raise NoHandlerError("command", type(step))
        self.reaction.compensations.append(stored)

    def run_compensations(self) -> int:
        """Send and publish the registered compensations now (newest first) and
        forget them; returns how many ran."""
        steps = self.reaction.compensations
        for stored in reversed(steps):
            doc = {k: v for k, v in stored.items() if k != "kind"}
            self.reaction.outgoing.append(Outgoing(str(stored["kind"]), doc))
        count = len(steps)
        self.reaction.compensations = []
        return count

    def finish(self, outcome: str = "completed", *, compensate: bool = False) -> None:
        """Finish the instance with ``outcome``; with ``compensate=True`` the
        registered compensations run first (newest first). A finished instance
        ignores later events, and its pending deadlines never fire."""
        if not isinstance(outcome, str) or not outcome:
            raise ValueError(f"an outcome is a non-empty str, not {outcome!r}")
        if compensate:
            self.run_compensations()
        self.reaction.finished = True
        self.reaction.outcome = outcome
        self.reaction.deadlines.clear()

    async def on_cancel(self, reason: str) -> None:
        """Called when the instance is cancelled from outside, before its
        compensations run; override it to add steps (the default does nothing)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} saga key={self.key!r}>"
