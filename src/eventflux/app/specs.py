"""What an App registers to run: its bus subscribers (:class:`SubscriptionSpec`),
outbox relays (:class:`RelaySpec`), projections (:class:`ProjectionSpec`), web
pages (:class:`Page`) and background tasks (:data:`Task`). The App keeps them
and starts them when it runs (:mod:`eventflux.app.running`).

Example::

    spec = app.relay(stream_prefix="order-", subject="orders.{type}")
    spec.subject_of(event)                   # "orders.OrderPlaced"
    [p.name for p in app.projections]        # ["balances"]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from ..cqrs import Projection
from ..events import RecordedEvent
from .context import Context

__all__ = ["Page", "ProjectionSpec", "RelaySpec", "SubscriptionSpec", "Task"]

#: ``async def task(ctx)``: a background task of an App
Task = Callable[[Context], Coroutine[Any, Any, Any]]


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """A handler registered with ``@app.subscribe`` (subscribed when the App runs)."""

    subject: str
    group: str
    handler: Callable[..., Any]
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RelaySpec:
    """``app.relay(stream_prefix=P, subject=S)``: events of streams starting with
    ``P`` are published to ``S`` (``{type}`` and ``{stream}`` replaced)."""

    stream_prefix: str
    subject: str

    @property
    def name(self) -> str:
        return "relay-" + re.sub(r"[^A-Za-z0-9_-]+", "_", f"{self.stream_prefix}-{self.subject}")

    def subject_of(self, event: RecordedEvent) -> str:
        stream = re.sub(r"[\s*>.]+", "_", event.stream)
        return self.subject.replace("{type}", event.type).replace("{stream}", stream)


@dataclass(frozen=True, slots=True)
class ProjectionSpec:
    """``app.projection(cls)``: a projection the App keeps up to date while it runs."""

    cls: type[Projection]

    @property
    def name(self) -> str:
        return self.cls.name


@dataclass(frozen=True, slots=True)
class Page:
    """A web page the server mounts for the App (``app.page(path, template)``)."""

    path: str
    template: str
    context: Callable[..., Any] | None = None
