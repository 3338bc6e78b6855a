"""What every App handler receives: :class:`Context`.

A handler never builds clients itself: ``ctx.store`` and ``ctx.bus`` are the
App's, ``ctx.metadata`` holds the correlation id, causation id and actor of the
work in hand, ``ctx.logger`` logs with them bound, and ``ctx.dispatch`` /
``ctx.ask`` send commands and queries through the App.

Example::

    @app.subscribe("payments.charged", group="shipping")
    async def ship(msg: Message, ctx: Context) -> None:
        ctx.logger.info("shipping", order_id=msg.data["order_id"])
        await ctx.dispatch(Ship(msg.data["order_id"]))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..bus import Message, MessageBus
from ..cqrs import ReadModel
from ..store import EventStore

__all__ = ["AppLike", "BoundOnUse", "Context"]


class AppLike(Protocol):
    """What a context needs of its App (the App satisfies it)."""

    name: str

    @property
    def store(self) -> EventStore: ...

    @property
    def bus(self) -> MessageBus: ...

    @property
    def read_model(self) -> ReadModel: ...

    async def dispatch(self, command: object, metadata: Mapping[str, Any] | None = None) -> Any: ...

    async def ask(self, query: object, metadata: Mapping[str, Any] | None = None) -> Any: ...


class BoundOnUse:
    """A structlog logger bound to ``fields`` when first used: most handler
    contexts never log, and binding copies the logger's context each time."""

    __slots__ = ("_base", "_bound", "_fields")

    def __init__(self, base: Any, fields: Mapping[str, Any]) -> None:
        self._base = base
        self._fields = fields
        self._bound: Any = None

    def __getattr__(self, name: str) -> Any:
        bound = self._bound
        if bound is None:
            bound = self._bound = self._base.bind(**self._fields)
        return getattr(bound, name)

    def __repr__(self) -> str:
        return f"<logger bound on use to {dict(self._fields)!r}>"


@dataclass(frozen=True, slots=True)
class Context:
    """The App, the metadata and a logger for one command, query or delivery."""

    app: AppLike
    metadata: Mapping[str, Any]
    logger: Any
    message: Message | None = None

    @property
    def store(self) -> EventStore:
        """The App's event store: appends inside the handler carry ``metadata``."""
        return self.app.store

    @property
    def bus(self) -> MessageBus:
        """The App's message bus: publishes carry the correlation and causation ids."""
        return self.app.bus

    @property
    def read_model(self) -> ReadModel:
        """The App's read model (where its projections write; queries read it)."""
        return self.app.read_model

    @property
    def correlation_id(self) -> str | None:
        value = self.metadata.get("correlation_id")
        return None if value is None else str(value)

    @property
    def causation_id(self) -> str | None:
        value = self.metadata.get("causation_id")
        return None if value is None else str(value)

    async def dispatch(self, command: object, metadata: Mapping[str, Any] | None = None) -> Any:
        """Dispatch a command through the App; it continues this correlation."""
        return await self.app.dispatch(command, metadata=metadata)

    async def ask(self, query: object, metadata: Mapping[str, Any] | None = None) -> Any:
        """Ask a query through the App."""
        return await self.app.ask(query, metadata=metadata)
