"""A Mermaid sequence diagram of events that share a correlation id: one
participant per stream, one arrow per event, from the stream of its cause (or
itself, for the root). Names are reduced to safe characters: Mermaid never
sees markup from event data.

Example::

    sequence_diagram(events)   # "sequenceDiagram\\n  participant S1 as order-1\\n ..."
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from ...events import CAUSATION_ID, RecordedEvent

__all__ = ["sequence_diagram"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 _.\-@/]")


def _label(text: str, limit: int = 60) -> str:
    cleaned = _UNSAFE.sub("_", text)[:limit]
    return cleaned or "_"


def sequence_diagram(events: Sequence[RecordedEvent]) -> str:
    """The diagram text (``sequenceDiagram`` syntax)."""
    participants: dict[str, str] = {}
    stream_of: dict[str, str] = {}
    lines = ["sequenceDiagram"]
    for e in events:
        if e.stream not in participants:
            participants[e.stream] = f"S{len(participants) + 1}"
            lines.append(f"  participant {participants[e.stream]} as {_label(e.stream)}")
    for e in events:
        stream_of[str(e.id)] = e.stream
        cause = e.metadata.get(CAUSATION_ID)
        source = stream_of.get(cause, e.stream) if isinstance(cause, str) else e.stream
        lines.append(
            f"  {participants[source]}->>{participants[e.stream]}: {_label(e.type)} (v{e.version})"
        )
    return "\n".join(lines)
