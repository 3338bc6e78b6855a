"""Saga administration: list instances and their history, list, cancel and
reschedule pending deadlines, cancel an instance from outside.

It needs only the store (and the bus, to cancel an instance), not the saga
classes, so the CLI and the HTTP API can use it on any application's store.
Deadline changes are written straight to the instance's stream (the
processes running the saga pick them up); cancelling an instance is a
message to the saga's consumer group, because its compensations are
commands that only the App running the saga can send.

Example::

    admin = SagaAdmin(store, bus)
    for view in await admin.instances("Fulfilment", state="open"):
        print(view.key, view.state, view.deadlines)
    await admin.reschedule("Fulfilment", "o-1", "pay", timedelta(minutes=30))
    await admin.cancel("Fulfilment", "o-2", reason="customer called", wait=10.0)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .._internal.ids import new_id, new_msg_id
from ..bus import MessageBus
from ..events import NewEvent
from ..exceptions import ConcurrencyError, ConfigurationError
from ..store import EventStore
from .clock import Clock, SystemClock, due_time
from .errors import DeadlineNotFoundError, SagaError, SagaNotFoundError
from .inputs import cancel_message
from .records import (
    ADMIN_CHANGED,
    SAGA_EVENT_TYPES,
    Deadline,
    Instance,
    apply,
    fold,
    parse_stream,
    stream_name,
    stream_prefix,
    validate_saga_name,
)
from .saga import Saga
from .views import PendingDeadline, SagaStep, SagaView

__all__ = ["SagaAdmin", "SagaRef", "saga_name"]

#: A saga named by its class or by its name.
SagaRef = str | type[Saga]


def saga_name(saga: SagaRef) -> str:
    """The name of a saga given by class or by name."""
    if isinstance(saga, type):
        if not issubclass(saga, Saga):
            raise TypeError(f"{saga!r} is not a Saga subclass")
        return validate_saga_name(saga.name)
    return validate_saga_name(saga)


class SagaAdmin:
    """Reads and administers the saga instances kept in ``store``."""

    def __init__(
        self, store: EventStore, bus: MessageBus | None = None, *, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock or SystemClock()

    # -- reading ---------------------------------------------------------------------------
    async def names(self) -> list[str]:
        """The names of the sagas that have instances in the store, sorted."""
        found = {p[0] for s in await self.store.streams("saga-") if (p := parse_stream(s))}
        return sorted(found)

    async def _load(self, saga: str, key: str) -> Instance:
        events = [e async for e in self.store.read(stream_name(saga, key))]
        return fold(saga, key, events)

    async def instance(self, saga: SagaRef, key: str) -> SagaView | None:
        """The instance ``key`` of ``saga``, or None."""
        inst = await self._load(saga_name(saga), key)
        return SagaView.of(inst) if inst.exists else None

    async def _view_of_stream(self, saga: str, stream: str) -> SagaView | None:
        last = [e async for e in self.store.read(stream, backwards=True, limit=1)]
        if not last or last[0].type not in SAGA_EVENT_TYPES:
            return None
        first = [e async for e in self.store.read(stream, limit=1)]
        inst = Instance(saga, str(last[0].data.get("key", "")))
        apply(inst, last[0])
        inst.started_at = first[0].recorded_at if first else inst.started_at
        return SagaView.of(inst)

    async def instances(
        self, saga: SagaRef | None = None, *, state: str | None = None, limit: int = 100
    ) -> list[SagaView]:
        """Instances of ``saga`` (of every saga without it), ``state`` being
        ``"open"``, ``"finished"`` or an outcome (``"completed"``...); at most
        ``limit``, in stream-name order."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        names = [saga_name(saga)] if saga is not None else await self.names()
        out: list[SagaView] = []
        for name in names:
            for stream in await self.store.streams(stream_prefix(name)):
                view = await self._view_of_stream(name, stream)
                if view is None or not _matches(view, state):
                    continue
                out.append(view)
                if len(out) >= limit:
                    return out
        return out

    async def history(self, saga: SagaRef, key: str) -> list[SagaStep]:
        """Every reaction of the instance, oldest first (empty if there is none)."""
        stream = stream_name(saga_name(saga), key)
        return [SagaStep.of(e) async for e in self.store.read(stream)]

    async def deadlines(
        self, saga: SagaRef | None = None, *, key: str | None = None
    ) -> list[PendingDeadline]:
        """Pending deadlines, soonest first: of one instance (``key``), of one
        saga, or of every saga."""
        if key is not None:
            if saga is None:
                raise ValueError("give the saga together with the key")
            views = [v for v in [await self.instance(saga, key)] if v is not None]
        else:
            views = await self.instances(saga, state="open", limit=1_000_000)
        out = [
            PendingDeadline(v.saga, v.key, name, due)
            for v in views
            for name, due in v.deadlines.items()
        ]
        return sorted(out, key=lambda d: (d.due, d.saga, d.key, d.name))

    # -- deadlines -------------------------------------------------------------------------
    async def _change(
        self, saga: str, key: str, what: str, change: Any, *, actor: str | None
    ) -> SagaView:
        while True:
            inst = await self._load(saga, key)
            if not inst.exists:
                raise SagaNotFoundError(saga, key)
            deadlines = dict(inst.deadlines) if not inst.finished else {}
            change(deadlines, inst.version + 1)
            data = {
                "saga": saga,
                "key": inst.key,
                "input": {
                    "id": f"admin:{new_id()}",
                    "kind": "admin",
                    "name": what,
                    "at": self.clock.now().isoformat(),
                },
                "state": inst.state,
                "out": [],
                "deadlines": {n: d.as_dict() for n, d in deadlines.items()},
                "compensations": inst.compensations,
                "finished": inst.finished,
                "outcome": inst.outcome,
                "correlation_id": inst.correlation_id,
                "actor": actor or inst.actor,
            }
            metadata: dict[str, Any] = {}
            if inst.correlation_id:
                metadata["correlation_id"] = inst.correlation_id
            if actor:
                metadata["actor"] = actor
            try:
                await self.store.append(
                    inst.stream,
                    [NewEvent(ADMIN_CHANGED, data, metadata=metadata)],
                    expected_version=inst.version,
                )
            except ConcurrencyError:
                continue  # a reaction committed meanwhile: look again
            view = await self.instance(saga, key)
            assert view is not None
            return view

    async def cancel_deadline(
        self, saga: SagaRef, key: str, name: str, *, actor: str | None = None
    ) -> SagaView:
        """Cancel the pending deadline ``name`` of instance ``key``: it never
        fires. Raises :class:`DeadlineNotFoundError` when it is not pending."""
        sname = saga_name(saga)

        def drop(deadlines: dict[str, Deadline], version: int) -> None:
            if deadlines.pop(name, None) is None:
                raise DeadlineNotFoundError(sname, key, name)

        return await self._change(sname, key, f"cancel deadline {name}", drop, actor=actor)

    async def reschedule(
        self, saga: SagaRef, key: str, name: str, when: object, *, actor: str | None = None
    ) -> SagaView:
        """Move the pending deadline ``name`` of instance ``key`` to ``when``
        (seconds or a ``timedelta`` from now, or an aware ``datetime``)."""
        sname = saga_name(saga)
        due = due_time(when, self.clock.now())

        def move(deadlines: dict[str, Deadline], version: int) -> None:
            if name not in deadlines:
                raise DeadlineNotFoundError(sname, key, name)
            deadlines[name] = Deadline(due, version)

        return await self._change(
            sname, key, f"reschedule {name} to {due.isoformat()}", move, actor=actor
        )

    # -- cancelling an instance ------------------------------------------------------------
    async def cancel(
        self,
        saga: SagaRef,
        key: str,
        *,
        reason: str = "cancelled from outside",
        outcome: str = "cancelled",
        wait: float | None = None,
        actor: str | None = None,
    ) -> SagaView:
        """Cancel instance ``key``: a process running the saga calls its
        ``on_cancel``, runs its compensations newest first and finishes it with
        ``outcome``. With ``wait`` (seconds), return once it has finished.
        An instance that already finished is returned as it is."""
        if self.bus is None:
            raise ConfigurationError("cancelling a saga instance needs the bus")
        if not isinstance(outcome, str) or not outcome:
            raise ValueError(f"an outcome is a non-empty str, not {outcome!r}")
        name = saga_name(saga)
        view = await self.instance(name, key)
        if view is None:
            raise SagaNotFoundError(name, key)
        if view.finished:
            return view
        headers = {"actor": actor} if actor else None
        msg = cancel_message(name, key, str(reason), outcome, new_msg_id())
        await self.bus.publish(
            msg.subject, msg.data, msg_id=msg.msg_id, key=msg.key, headers=headers
        )
        if wait is None:
            return view
        return await self.wait_finished(name, key, wait)

    async def wait_finished(self, saga: SagaRef, key: str, within: float) -> SagaView:
        """Wait until instance ``key`` has finished (polling the store); raise
        :class:`SagaError` after ``within`` seconds."""
        name = saga_name(saga)
        deadline = time.monotonic() + within
        while True:
            view = await self.instance(name, key)
            if view is not None and view.finished:
                return view
            if time.monotonic() > deadline:
                raise SagaError(
                    f"saga {name!r} instance {key!r} did not finish within {within:g} s; "
                    "is a process running the saga (eventflux worker ...)?"
                )
            await asyncio.sleep(0.02)


def _matches(view: SagaView, state: str | None) -> bool:
    if state is None:
        return True
    if state == "open":
        return not view.finished
    if state == "finished":
        return view.finished
    return view.finished and view.outcome == state
