"""Ambient metadata: the correlation id, causation id and actor of the work in hand.

An App opens a context for each command it dispatches and each message it
delivers; everything appended or published inside it is stamped with the
context's metadata, so the causal chain of any event can be followed across
streams, subjects and processes without user code::

    with metadata_context(correlation_id="req-7", causation_id="cmd-1", actor="ann"):
        await store.append("account-42", [NewEvent("Deposited", {"amount": 5})])
        # the event's metadata holds correlation_id, causation_id and actor

Contexts nest: an inner one adds to (and overrides keys of) the outer one. The
context follows asyncio tasks created inside it (contextvars).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Final

from .events import CAUSATION_ID, CORRELATION_ID

__all__ = [
    "ACTOR",
    "CAUSATION_ID",
    "COMMAND",
    "COMMAND_CAUSATION_ID",
    "CORRELATION_ID",
    "PROPAGATED_HEADERS",
    "current_metadata",
    "metadata_context",
    "replace_metadata",
    "stamp_headers",
]

ACTOR: Final = "actor"
#: The type name of the command whose handler appended an event.
COMMAND: Final = "command"
#: What caused that command (a message or event id), when it was sent while
#: handling something: the link that keeps a causal chain whole.
COMMAND_CAUSATION_ID: Final = "command_causation_id"
#: The ambient keys a publish carries in its message headers (values as str).
PROPAGATED_HEADERS: Final = (CORRELATION_ID, CAUSATION_ID, ACTOR, "traceparent", "tracestate")

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_current: ContextVar[Mapping[str, Any]] = ContextVar("eventflux_metadata", default=_EMPTY)


def current_metadata() -> Mapping[str, Any]:
    """The metadata of the innermost :func:`metadata_context` (empty outside any)."""
    return _current.get()


@contextmanager
def metadata_context(
    metadata: Mapping[str, Any] | None = None, /, **values: Any
) -> Iterator[Mapping[str, Any]]:
    """Add ``metadata`` and ``values`` to the ambient metadata for the ``with`` block.

    Yields the combined mapping. Values must be JSON-compatible (they are
    stored with each event appended inside the block).
    """
    combined = {**_current.get(), **(metadata or {}), **values}
    token = _current.set(MappingProxyType(combined))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


@contextmanager
def replace_metadata(metadata: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Like :func:`metadata_context`, but the block sees ``metadata`` alone (the
    outer context is hidden): how a delivered message starts its own context."""
    token = _current.set(MappingProxyType(dict(metadata)))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def stamp_headers(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """Message headers with the ambient correlation id, causation id, actor and
    trace context added as strings (given headers win). Outside any context
    ``headers`` comes back unchanged."""
    ambient = _current.get()
    if not ambient:
        return headers
    added = {k: str(ambient[k]) for k in PROPAGATED_HEADERS if ambient.get(k) is not None}
    if not added:
        return headers
    return {**added, **headers} if headers else added
