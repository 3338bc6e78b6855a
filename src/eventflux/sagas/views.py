"""What code, the CLI and the API see of saga instances: read-only views.

Example::

    view = await app.saga_instance(Fulfilment, "o-1")
    if view is not None and not view.finished:
        print(view.state, view.deadlines)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..events import RecordedEvent
from .records import Instance

__all__ = ["PendingDeadline", "SagaStep", "SagaView"]


@dataclass(frozen=True, slots=True)
class SagaView:
    """One saga instance now.

    ``state`` is its persisted state; ``finished`` and ``outcome`` (None while
    open) say how it ended; ``deadlines`` maps the names of its pending
    deadlines to their aware due times (empty once finished); ``version``
    counts its reactions.
    """

    saga: str
    key: str
    state: Mapping[str, Any]
    finished: bool
    outcome: str | None
    deadlines: Mapping[str, datetime]
    version: int
    started_at: datetime | None = None
    updated_at: datetime | None = None
    correlation_id: str | None = None
    compensations: int = 0

    @property
    def status(self) -> str:
        """``"open"``, or the outcome of a finished instance."""
        return (self.outcome or "finished") if self.finished else "open"

    @classmethod
    def of(cls, instance: Instance) -> SagaView:
        return cls(
            instance.saga,
            instance.key,
            instance.state,
            instance.finished,
            instance.outcome,
            {} if instance.finished else {n: d.due for n, d in instance.deadlines.items()},
            instance.version,
            instance.started_at,
            instance.updated_at,
            instance.correlation_id,
            len(instance.compensations),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``GET /api/sagas`` lists)."""
        return {
            "saga": self.saga,
            "key": self.key,
            "status": self.status,
            "finished": self.finished,
            "outcome": self.outcome,
            "state": dict(self.state),
            "deadlines": {n: d.isoformat() for n, d in self.deadlines.items()},
            "version": self.version,
            "started_at": _iso(self.started_at),
            "updated_at": _iso(self.updated_at),
            "correlation_id": self.correlation_id,
            "compensations": self.compensations,
        }


@dataclass(frozen=True, slots=True)
class SagaStep:
    """One reaction in an instance's history: what it reacted to and what it did."""

    version: int
    type: str
    at: datetime
    input_kind: str
    input_name: str
    handler: str | None
    sent: tuple[str, ...] = ()
    published: tuple[str, ...] = ()
    deadlines: Mapping[str, datetime] = field(default_factory=dict)
    finished: bool = False
    outcome: str | None = None
    state: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, event: RecordedEvent) -> SagaStep:
        data = event.data if isinstance(event.data, Mapping) else {}
        source = data.get("input") or {}
        out = data.get("out") or []
        return cls(
            event.version,
            event.type,
            event.recorded_at,
            str(source.get("kind", "?")),
            str(source.get("name", "")),
            source.get("handler"),
            tuple(o["type"].rpartition(":")[2] for o in out if o.get("kind") == "send"),
            tuple(o["subject"] for o in out if o.get("kind") == "publish"),
            {n: datetime.fromisoformat(d["due"]) for n, d in (data.get("deadlines") or {}).items()},
            bool(data.get("finished")),
            data.get("outcome"),
            dict(data.get("state") or {}),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "type": self.type,
            "at": self.at.isoformat(),
            "input": {"kind": self.input_kind, "name": self.input_name},
            "handler": self.handler,
            "sent": list(self.sent),
            "published": list(self.published),
            "deadlines": {n: d.isoformat() for n, d in self.deadlines.items()},
            "finished": self.finished,
            "outcome": self.outcome,
            "state": dict(self.state),
        }


@dataclass(frozen=True, slots=True)
class PendingDeadline:
    """A deadline that has not fired yet."""

    saga: str
    key: str
    name: str
    due: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"saga": self.saga, "key": self.key, "name": self.name, "due": self.due.isoformat()}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
