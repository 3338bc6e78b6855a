"""Causal chains: every hop of one correlation id, in causation order, and its
Mermaid sequence diagram.

The chain is rebuilt from the event store: each event's metadata holds its
``correlation_id``, its ``causation_id`` (the command, message or event that
caused it) and, for events appended by a command handler, the command's type
(``command``) and what caused that command (``command_causation_id``). A
causation id that is an event's id means a message relayed from that event
(the relay publishes with the event's id as ``msg_id``); one that is neither an
event nor a command is a message published by a handler.

Example::

    chain = await trace(store, "c-42")
    for node in chain.nodes:
        print(node.kind, node.name, node.stream)
    print(chain.mermaid())
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from ..context import ACTOR, CAUSATION_ID, COMMAND, COMMAND_CAUSATION_ID, CORRELATION_ID
from ..events import RecordedEvent

__all__ = ["Trace", "TraceNode", "trace"]

Kind = Literal["command", "event", "message"]


class EventLog(Protocol):
    """What :func:`trace` reads: an :class:`~eventflux.EventStore` (typed by its
    one method here, so that the store may use this package's hooks)."""

    def read_all(self, *, correlation_id: str | None = None) -> AsyncIterator[RecordedEvent]: ...


_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 _.:/@+\-]")


@dataclass(slots=True)
class TraceNode:
    """One hop: a command, an event or a message.

    ``id`` is the hop's own id (a command id, an event id, a ``msg_id``: a
    message relayed from an event has the event's id as ``msg_id``), ``cause``
    the id of what caused it (None for a root), ``key`` a name unique in the
    chain and ``parent`` the key of the hop it hangs from.
    """

    key: str
    kind: Kind
    id: str
    cause: str | None
    name: str
    stream: str | None = None
    position: int | None = None
    at: datetime | None = None
    actor: str | None = None
    event: RecordedEvent | None = None
    parent: str | None = None
    children: list[TraceNode] = field(default_factory=list, repr=False)

    def first_position(self) -> int:
        """The lowest position in this hop's subtree (orders siblings)."""
        own = [self.position] if self.position is not None else []
        return min(own + [c.first_position() for c in self.children], default=2**63)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "id": self.id,
            "cause": self.cause,
            "parent": self.parent,
            "name": self.name,
            "stream": self.stream,
            "position": self.position,
            "at": self.at.isoformat() if self.at else None,
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class Trace:
    """The causal chain of one correlation id."""

    correlation_id: str
    nodes: list[TraceNode]

    @property
    def events(self) -> list[RecordedEvent]:
        """The stored events, in causation order (the root first)."""
        return [n.event for n in self.nodes if n.event is not None]

    @property
    def messages(self) -> list[TraceNode]:
        """The message hops (relayed from events, or published by handlers)."""
        return [n for n in self.nodes if n.kind == "message"]

    @property
    def commands(self) -> list[TraceNode]:
        return [n for n in self.nodes if n.kind == "command"]

    def mermaid(self) -> str:
        """The chain as a Mermaid ``sequenceDiagram``: participants are the actor,
        streams and subjects; arrows are commands, events and messages."""
        return _Diagram(self.nodes).render()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``GET /api/trace/{id}`` answers, without events' data)."""
        return {
            "correlation_id": self.correlation_id,
            "nodes": [n.as_dict() for n in self.nodes],
            "mermaid": self.mermaid(),
        }


async def trace(
    store: EventLog,
    correlation_id: str,
    *,
    subject_of: Callable[[RecordedEvent], str | None] | None = None,
) -> Trace:
    """The causal chain of ``correlation_id`` from ``store``.

    ``subject_of(event)`` names the subject an event was relayed to (an App
    knows its relays); without it relayed messages are drawn on ``bus``.
    Raises nothing for an unknown id: the chain is then empty.
    """
    events = [e async for e in _correlated(store, correlation_id)]
    return build_trace(correlation_id, events, subject_of=subject_of)


async def _correlated(store: EventLog, correlation_id: str) -> Any:
    try:
        source = store.read_all(correlation_id=correlation_id)
    except TypeError:  # a store without the indexed filter: scan the log
        source = None
    if source is not None:
        async for e in source:
            yield e
        return
    async for e in store.read_all():
        if e.metadata.get(CORRELATION_ID) == correlation_id:
            yield e


def build_trace(
    correlation_id: str,
    events: Iterable[RecordedEvent],
    *,
    subject_of: Callable[[RecordedEvent], str | None] | None = None,
) -> Trace:
    """Link ``events`` (all of one correlation id) into the chain of hops."""
    events = sorted(events, key=lambda e: e.position)
    nodes: dict[str, TraceNode] = {}
    stored = {str(e.id): e for e in events}

    def hop_for(cause: str | None, actor: str | None) -> str | None:
        """The key of the hop a cause names, made if it is not stored itself."""
        if cause is None:
            return None
        if cause in stored:  # an event id: the message relayed from that event
            key = f"message:{cause}"
            if key not in nodes:
                source = stored[cause]
                subject = subject_of(source) if subject_of else None
                nodes[key] = TraceNode(
                    key,
                    "message",
                    cause,
                    cause,
                    subject or source.type,
                    actor=actor,
                    parent=f"event:{cause}",
                )
            return key
        for kind in ("command", "message"):
            if f"{kind}:{cause}" in nodes:
                return f"{kind}:{cause}"
        key = f"message:{cause}"  # published by a handler; not stored anywhere
        nodes[key] = TraceNode(key, "message", cause, None, "message", actor=actor)
        return key

    for e in events:  # commands first: events name the command that appended them
        cause = _text(e.metadata.get(CAUSATION_ID))
        command = e.metadata.get(COMMAND)
        if cause is not None and command is not None and cause not in stored:
            key = f"command:{cause}"
            if key not in nodes:
                origin = _text(e.metadata.get(COMMAND_CAUSATION_ID))
                nodes[key] = TraceNode(
                    key,
                    "command",
                    cause,
                    origin,
                    str(command),
                    stream=e.stream,
                    actor=_text(e.metadata.get(ACTOR)),
                )
    for node in list(nodes.values()):
        node.parent = hop_for(node.cause, node.actor)
    for e in events:
        actor = _text(e.metadata.get(ACTOR))
        cause = _text(e.metadata.get(CAUSATION_ID))
        key = f"event:{e.id}"
        nodes[key] = TraceNode(
            key,
            "event",
            str(e.id),
            cause,
            e.type,
            stream=e.stream,
            position=e.position,
            at=e.recorded_at,
            actor=actor,
            event=e,
            parent=hop_for(cause, actor),
        )
    roots: list[TraceNode] = []
    for n in nodes.values():
        parent = nodes.get(n.parent) if n.parent is not None else None
        if parent is None or parent is n:
            roots.append(n)
        else:
            parent.children.append(n)
    ordered: list[TraceNode] = []

    def walk(n: TraceNode) -> None:
        ordered.append(n)
        for c in sorted(n.children, key=lambda c: (c.first_position(), c.kind != "message")):
            walk(c)

    for r in sorted(roots, key=TraceNode.first_position):
        walk(r)
    return Trace(correlation_id, ordered)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _label(text: str) -> str:
    """Text Mermaid draws as is: unsafe characters become ``_`` (event data
    never reaches the diagram, but stream names and types are user input)."""
    return _UNSAFE.sub("_", text)[:80] or "_"


class _Diagram:
    def __init__(self, nodes: list[TraceNode]) -> None:
        self.nodes = nodes
        self.parent = {id(c): n for n in nodes for c in n.children}
        self.participants: dict[str, str] = {}
        self.lines: list[str] = []

    def participant(self, label: str) -> str:
        key = self.participants.get(label)
        if key is None:
            key = f"P{len(self.participants)}"
            self.participants[label] = key
        return key

    def where(self, node: TraceNode) -> str:
        """The participant a hop ends at."""
        if node.kind == "message":
            return self.participant(f"subject {node.name}" if node.name != "message" else "bus")
        if node.stream is not None:
            return self.participant(node.stream)
        return self.participant("app")

    def source(self, node: TraceNode) -> str:
        parent = self.parent.get(id(node))
        if parent is None:
            return self.participant(f"actor {node.actor}" if node.actor else "client")
        return self.where(parent)

    def render(self) -> str:
        for n in self.nodes:  # the actor (or client) first, then in order of appearance
            if n.parent is None:
                self.participant(f"actor {n.actor}" if n.actor else "client")
                break
        for n in self.nodes:
            target = self.where(n)
            origin = self.source(n)
            if n.kind == "command":
                self.lines.append(f"    {origin}->>{target}: {_label(n.name)}")
            elif n.kind == "event":
                label = f"{n.name} #{n.position}" if n.position is not None else n.name
                self.lines.append(f"    {origin}->>{target}: {_label(label)}")
            else:
                self.lines.append(f"    {origin}-->>{target}: {_label(n.name)}")
        head = ["sequenceDiagram"]
        head += [
            f"    participant {key} as {_label(label)}" for label, key in self.participants.items()
        ]
        return "\n".join(head + self.lines)
