"""Shared domain, fixtures and helpers of the saga contract.

The sagas here exercise every rule of DESIGN 3.6: ``Fulfilment`` (store
events, deadlines, compensations, a bus route), ``Requests`` (started by bus
messages), ``Flaky`` (a reaction that fails a given number of times) and
``Renamed`` (a ``name`` class attribute). Commands are recorded with their
command ids by :class:`CommandLog`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest_asyncio

from ...app import App, Context
from ...bus import Message, MessageBus
from ...codec import register_event
from ...events import NewEvent, RecordedEvent
from ...sagas import ManualClock, Saga, SagaView, handles, starts, timeout
from ...store import EventStore

T = TypeVar("T")

#: Small backoffs keep failing reactions quick while still exercising retries.
FAST = (0.01, 0.02)


# -- commands ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reserve:
    order_id: str


@dataclass(frozen=True)
class Release:
    order_id: str


@dataclass(frozen=True)
class Ship:
    order_id: str


@register_event("SagaContractShipped")
@dataclass(frozen=True)
class Shipped:
    """A registered event class (its events read back as instances)."""

    order_id: str
    carrier: str


# -- sagas -------------------------------------------------------------------------------
def order_key(e: RecordedEvent | Message) -> str:
    return str(e.data["order_id"])


def _step(saga: Saga, what: str) -> None:
    saga.state["steps"] = [*saga.state.get("steps", []), what]


class Fulfilment(Saga):
    """Store events in, commands and messages out, deadlines, compensations."""

    max_deliver = 3
    backoff = FAST

    @starts("OrderPlaced", key=order_key)
    async def placed(self, e: RecordedEvent) -> None:
        _step(self, "placed")
        self.state["placed"] = self.state.get("placed", 0) + 1
        self.send(Reserve(self.key))
        self.compensate(Release(self.key))
        self.compensate("orders.compensated", {"order_id": self.key}, key=self.key)
        if e.data.get("pay_within") is not None:
            self.deadline(e.data["pay_within"], "pay")

    @handles("PaymentCharged", key=order_key)
    async def paid(self, e: RecordedEvent) -> None:
        _step(self, "paid")
        self.cancel_deadline("pay")
        self.send(Ship(self.key))
        self.publish("orders.paid", {"order_id": self.key}, key=self.key)
        if e.data.get("finish", True):
            self.finish("completed")

    @handles("PaymentDeclined", key=order_key)
    async def declined(self, e: RecordedEvent) -> None:
        _step(self, "declined")
        self.finish("declined", compensate=True)

    @handles("RemindAt", key=order_key)
    async def remind_at(self, e: RecordedEvent) -> None:
        """Set (or reset) the deadline ``remind``: ``in`` seconds or ``at`` an ISO time."""
        _step(self, "remind-set")
        when: Any = e.data.get("in")
        if when is None:
            when = datetime.fromisoformat(e.data["at"])
        elif e.data.get("as") == "timedelta":
            when = timedelta(seconds=when)
        self.deadline(when, "remind")

    @handles("RemindCancelled", key=order_key)
    async def remind_cancelled(self, e: RecordedEvent) -> None:
        _step(self, "remind-cancelled")
        self.state["had_remind"] = self.cancel_deadline("remind")

    @handles(Shipped, key=lambda e: e.data.order_id)
    async def shipped(self, e: RecordedEvent) -> None:
        _step(self, f"shipped:{type(e.data).__name__}:{e.data.carrier}")

    @handles(subject="orders.note", key=order_key)
    async def noted(self, msg: Message) -> None:
        _step(self, f"note:{msg.data['text']}")

    @timeout("pay")
    async def unpaid(self) -> None:
        _step(self, "pay-timeout")
        self.finish("cancelled", compensate=True)

    @timeout("remind")
    async def reminded(self) -> None:
        _step(self, "remind")
        self.state["reminded_at"] = self.now.isoformat()

    async def on_cancel(self, reason: str) -> None:
        _step(self, f"cancel:{reason}")


class Requests(Saga):
    """Started and continued by bus messages."""

    max_deliver = 3
    backoff = FAST

    @starts(subject="orders.requested", key=order_key)
    async def requested(self, msg: Message) -> None:
        self.state["requests"] = self.state.get("requests", 0) + 1
        self.send(Reserve(self.key))

    @handles(subject="orders.confirmed", key=order_key)
    async def confirmed(self, msg: Message) -> None:
        self.finish("confirmed")


#: event id -> failures still to come (the Flaky saga's reactions read it)
FAILURES: dict[str, int] = {}


class Flaky(Saga):
    """A reaction that does everything and then raises, ``fail`` times."""

    max_deliver = 3
    backoff = FAST

    @starts("FlakyStarted", key=order_key)
    async def started(self, e: RecordedEvent) -> None:
        self.state["touched"] = True
        self.send(Reserve(self.key))
        self.publish("orders.flaky", {"order_id": self.key})
        self.deadline(60, "later")
        left = FAILURES.get(str(e.id), int(e.data.get("fail", 0)))
        if left > 0:
            FAILURES[str(e.id)] = left - 1
            raise RuntimeError("the reaction failed on purpose")

    @starts("BadKey", key=lambda e: e.data["missing"])
    async def bad_key(self, e: RecordedEvent) -> None:
        self.state["never"] = True

    @starts("Unsendable", key=order_key)
    async def unsendable(self, e: RecordedEvent) -> None:
        self.send(NoHandler(self.key))

    @timeout("later")
    async def later(self) -> None:
        self.finish("late")


@dataclass(frozen=True)
class NoHandler:
    order_id: str


class Renamed(Saga):
    """A saga whose instances are kept under a name other than its class name."""

    name = "LegacyFulfilment"

    @starts("OrderPlaced", key=order_key)
    async def placed(self, e: RecordedEvent) -> None:
        self.state["seen"] = self.state.get("seen", 0) + 1


# -- recording commands ------------------------------------------------------------------
@dataclass
class CommandLog:
    """Every command the App's handlers received: ``(type name, order id, command id)``."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)

    def register(self, app: App) -> None:
        for cls in (Reserve, Release, Ship):
            app.command(cls)(self._handler)

    async def _handler(self, cmd: Any, ctx: Context) -> None:
        self.calls.append((type(cmd).__name__, cmd.order_id, str(ctx.causation_id)))
        self.metadata.append(dict(ctx.metadata))

    def of(self, order_id: str) -> list[str]:
        """The command type names sent for ``order_id``, in order."""
        return [name for name, oid, _ in self.calls if oid == order_id]

    def ids(self) -> list[str]:
        return [cid for _, _, cid in self.calls]


@dataclass
class MessageLog:
    """Messages published by sagas, seen by a group of their own."""

    messages: list[Message] = field(default_factory=list)

    async def __call__(self, msg: Message) -> None:
        self.messages.append(msg)

    def subjects(self, order_id: str) -> list[str]:
        return [m.subject for m in self.messages if m.data.get("order_id") == order_id]


# -- waiting -------------------------------------------------------------------------------
async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 20.0, what: str = "condition"
) -> T:
    """Poll ``check()`` until it returns something truthy; return it."""
    give_up = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Run:
    """One running App (as one process would run it) and what it records."""

    app: App
    store: EventStore
    bus: MessageBus
    clock: ManualClock
    commands: CommandLog
    published: MessageLog

    async def place(self, order_id: str, **data: Any) -> RecordedEvent:
        return await self.append("OrderPlaced", order_id, **data)

    async def append(self, type: str, order_id: str, **data: Any) -> RecordedEvent:
        stream = f"order-{order_id}"
        await self.store.append(stream, [NewEvent(type, {"order_id": order_id, **data})])
        events = [e async for e in self.store.read(stream, backwards=True, limit=1)]
        return events[0]

    async def view(self, saga: type[Saga] | str, key: str) -> SagaView | None:
        return await self.app.saga_instance(saga, key)

    async def settle(self) -> None:
        await self.app.sagas.settle(within=30.0)

    async def finished(self, saga: type[Saga] | str, key: str, within: float = 20.0) -> SagaView:
        async def check() -> SagaView | None:
            v = await self.view(saga, key)
            return v if v is not None and v.finished else None

        return await eventually(check, within, f"{saga} {key} to finish")

    async def started(self, saga: type[Saga] | str, key: str, within: float = 20.0) -> SagaView:
        async def check() -> SagaView | None:
            return await self.view(saga, key)

        return await eventually(check, within, f"{saga} {key} to start")


class SagaContractBase:
    """Fixtures every contract group uses. Subclasses implement ``open_backends``."""

    #: True if ``open_backends(..., reopen=True)`` opens new handles on the same
    #: storage (separate processes would); False if it returns the same objects.
    durable = True

    async def open_backends(
        self, tmp_path: Path, *, reopen: bool = False
    ) -> tuple[EventStore, MessageBus]:
        """An event store and a message bus for one test. ``reopen=True`` gives
        handles on the storage of the first call in this test."""
        raise NotImplementedError

    @pytest_asyncio.fixture(autouse=True)
    async def _close_backends(self) -> AsyncIterator[None]:
        self._opened: list[tuple[EventStore, MessageBus]] = []
        self.commands = CommandLog()
        self.published = MessageLog()
        self.clock = ManualClock()
        FAILURES.clear()
        yield
        for store, bus in reversed(self._opened):
            await bus.close()
            await store.close()

    @asynccontextmanager
    async def running(
        self,
        tmp_path: Path,
        *sagas: type[Saga],
        reopen: bool = False,
        name: str = "shop",
    ) -> AsyncIterator[Run]:
        """Run an App with ``sagas`` (a process of the application) on the
        test's backends; ``reopen=True`` for a later process on the same storage."""
        first = not self._opened
        store, bus = await self.open_backends(tmp_path, reopen=reopen or not first)
        if first or self.durable:
            self._opened.append((store, bus))
        if first:  # one spy for the whole test: it records what the sagas publish
            bus.subscribe("orders.*", self.published, group="spy")
        app = App(name)
        self.commands.register(app)
        for saga in sagas:
            app.saga(saga)
        app.sagas.clock = self.clock
        async with app.running(store=store, bus=bus):
            await bus.ready()
            yield Run(app, store, bus, self.clock, self.commands, self.published)
