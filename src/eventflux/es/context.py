"""Ambient event metadata: who, why and which request, for every event saved.

A command bus (or a web handler) opens a context once; every repository save
inside it stamps the metadata on the events it appends, so an audit trail can
say who did what, when, why, and under which correlation id::

    with metadata_context(user="ann", reason="monthly fee", correlation_id="req-7"):
        await accounts.save(account)        # events carry user, reason, correlation_id

Contexts nest: an inner one adds to (and overrides keys of) the outer one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Final

__all__ = ["current_metadata", "metadata_context"]

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
    stored with each event).
    """
    combined = {**_current.get(), **(metadata or {}), **values}
    token = _current.set(MappingProxyType(combined))
    try:
        yield _current.get()
    finally:
        _current.reset(token)
