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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from ..context import ACTOR, CAUSATION_ID, COMMAND, COMMAND_CAUSATION_ID, CORRELATION_ID
from ..events import RecordedEvent
from ..store import EventStore

__all__ = ["Trace", "TraceNode", "trace"]

Kind = Literal["command", "event", "message"]
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 _.:/@+\-]")


@dataclass(slots=True)
class TraceNode:
    """One hop: a command, an event or a message, with the id of its cause."""

    kind: Kind
    id: str
    cause: str | None
    name: str
    stream: str | None = None
    position: int | None = None
    at: datetime | None = None
    actor: str | None = None
    event: RecordedEvent | None = None
    children: list[TraceNode] = field(default_factory=list, repr=False)

    def first_position(self) -> int:
        """The lowest position in this hop's subtree (orders siblings)."""
        own = [self.position] if self.position is not None else []
        return min(own + [c.first_position() for c in self.children], default=2**63)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "cause": self.cause,
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
    store: EventStore,
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


async def _correlated(store: EventStore, correlation_id: str) -> Any:
    try:
        source = store.read_all(correlation_id=correlation_id)  # type: ignore[call-arg]
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
    by_id: dict[str, TraceNode] = {}
    for e in events:
        by_id[str(e.id)] = TraceNode(
            "event",
            str(e.id),
            _text(e.metadata.get(CAUSATION_ID)),
            e.type,
            stream=e.stream,
            position=e.position,
            at=e.recorded_at,
            actor=_text(e.metadata.get(ACTOR)),
            event=e,
        )
    event_ids = set(by_id)

    def message_from_event(source_id: str) -> str:
        # the relay published the event with its id as msg_id
        node_id = f"{source_id}/message"
        if node_id not in by_id:
            source = by_id[source_id]
            subject = subject_of(source.event) if subject_of and source.event else None
            by_id[node_id] = TraceNode(
                "message", source_id, source_id, subject or source.name, actor=source.actor
            )
        return node_id

    def resolve(cause: str | None) -> str | None:
        if cause is None:
            return None
        if cause in event_ids:
            return message_from_event(cause)
        return cause

    for e in events:
        node = by_id[str(e.id)]
        cause = node.cause
        command = e.metadata.get(COMMAND)
        if cause is not None and cause not in event_ids and command is not None:
            if cause not in by_id:  # the command behind this event
                origin = resolve(_text(e.metadata.get(COMMAND_CAUSATION_ID)))
                by_id[cause] = TraceNode(
                    "command", cause, origin, str(command), stream=e.stream, actor=node.actor
                )
            node.cause = cause
        elif cause is not None and cause not in event_ids and cause not in by_id:
            by_id[cause] = TraceNode("message", cause, None, "message", actor=node.actor)
        else:
            node.cause = resolve(cause)
    for n in list(by_id.values()):  # parents of commands that are messages nobody stored
        if n.cause is not None and n.cause not in by_id:
            by_id[n.cause] = TraceNode("message", n.cause, None, "message", actor=n.actor)
    roots: list[TraceNode] = []
    for n in by_id.values():
        parent = by_id.get(n.cause) if n.cause is not None else None
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
            if n.cause is None:
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
