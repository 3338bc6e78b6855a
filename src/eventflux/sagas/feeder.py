"""The feeder of one saga: store events and due deadlines onto the saga's subject.

It follows the store in position order (only the event types the saga
routes) and relays each event to ``eventflux.saga.{Name}``, keyed by the
instance, with a message id derived from the event; its checkpoint is kept
with the bus (like an outbox relay's), so a restarted process resumes where
the last one stopped, and a repeat is dropped by the bus's dedup (and by the
reaction, which knows the input).

It also keeps the saga's pending deadlines (from the saga's own events) and
publishes each one when it is due, by the clock, and only once every stored
event recorded before its due time has been relayed: after a stop, missed
events and overdue deadlines reach the instances in time order. A deadline
is published with a message id derived from it, so two processes publishing
it deliver it once; the reaction fires it only if it is still pending.

Example::

    feeder = Feeder(Fulfilment, store, bus, clock, log)
    feeder.start()
    ...
    await feeder.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from .._internal.retrying import while_unavailable
from ..bus import MessageBus, OutgoingMessage
from ..bus.outbox import BusCheckpoint
from ..events import RecordedEvent
from ..exceptions import EventfluxError
from ..observability.metrics import current as current_metrics
from ..store import EventStore
from .clock import Clock
from .errors import SagaKeyError
from .index import DeadlineIndex
from .inputs import deadline_message, event_message
from .reactor import instance_key
from .records import SAGA_EVENT_TYPES, stream_prefix
from .saga import Saga

__all__ = ["Feeder"]

_BATCH: Final = 500
#: Seconds a due deadline may wait before the feeder checks again that every
#: event stored before it was relayed.
_LAG: Final = 1.0


class Feeder:
    """Relays a saga's store events and publishes its due deadlines."""

    def __init__(
        self,
        cls: type[Saga],
        store: EventStore,
        bus: MessageBus,
        clock: Clock,
        log: Any,
    ) -> None:
        self.cls = cls
        self.name = cls.name
        self.store = store
        self.bus = bus
        self.clock = clock
        self.log = log.bind(saga=self.name)
        self.index = DeadlineIndex()
        self.types = cls.routes.event_types
        self.checkpoint = BusCheckpoint(bus, f"saga-{self.name}")
        self.position = 0
        self.index_position = 0
        self.relayed = 0
        self.deadlines_published = 0
        self._queue: asyncio.Queue[RecordedEvent] = asyncio.Queue(_BATCH * 2)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._live = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the pending deadlines, then relay and publish in the background."""
        after = 0
        async for e in self.store.read_all(
            stream_prefix=stream_prefix(self.name), types=SAGA_EVENT_TYPES
        ):
            self.index.apply(e.data)
            after = e.position
        self.index_position = after
        self._metrics()
        self.position = await self.checkpoint.load()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow_sagas(after), name=f"saga-{self.name}-index")]
        if self.types:
            self._tasks.append(loop.create_task(self._pump(), name=f"saga-{self.name}-pump"))
        self._tasks.append(loop.create_task(self._run(), name=f"saga-{self.name}-feeder"))

    async def stop(self) -> None:
        """Stop relaying (what was not relayed is relayed by the next start)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, EventfluxError):
                await t
        self._tasks = []

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        return list(self._tasks)

    # -- the saga's own events: the deadline index -------------------------------------------
    async def _follow_sagas(self, after: int) -> None:
        async for e in self.store.subscribe(
            after=after, stream_prefix=stream_prefix(self.name), types=SAGA_EVENT_TYPES
        ):
            self.index.apply(e.data)
            self.index_position = e.position
            self._metrics()
            self._wake.set()

    def _metrics(self) -> None:
        metrics = current_metrics()
        if metrics is not None:
            metrics.sagas.labels(self.name, "open").set(self.index.open_instances)
            metrics.sagas.labels(self.name, "finished").set(self.index.finished_instances)

    # -- the routed store events ------------------------------------------------------------
    async def _pump(self) -> None:
        async for e in self.store.subscribe(after=self.position, types=self.types):
            await self._queue.put(e)
            self._wake.set()

    async def _caught_up(self) -> bool:
        """True if no routed event is stored after the last one relayed."""
        if not self._queue.empty():
            return False
        if not self.types:
            return True

        async def stored_after() -> bool:
            async for _ in self.store.read_all(after=self.position, types=self.types, limit=1):
                return True
            return False

        return not await while_unavailable(stored_after, self._retrying("reading the store"))

    async def idle(self) -> bool:
        """True if every routed event stored is relayed, every saga event is in
        the deadline index, and no deadline is due and unpublished."""
        if not self._tasks or not await self._caught_up():
            return False
        async for _ in self.store.read_all(
            after=self.index_position,
            stream_prefix=stream_prefix(self.name),
            types=SAGA_EVENT_TYPES,
            limit=1,
        ):
            return False
        due = self.index.next_due()
        return due is None or due > self.clock.now()

    def _event_message(self, e: RecordedEvent) -> OutgoingMessage:
        route = self.cls.routes.by_type[e.type]
        try:
            key: str | None = instance_key(route, e)
            error = None
        except SagaKeyError as err:
            key, error = None, str(err)
            self.log.error("saga key function failed", event_id=str(e.id), error=error)
        return event_message(self.name, e, key, error)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            batch: list[RecordedEvent] = []
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if batch:
                out: list[OutgoingMessage] = []
                for e in batch:
                    until = min(e.recorded_at, self.clock.now())
                    out += [deadline_message(self.name, *d) for d in self.index.pop_due(until)]
                    out.append(self._event_message(e))
                await self._publish(out)
                self.position = batch[-1].position
                self.relayed += len(batch)
                await self._save(self.position)
                continue
            due = self.index.next_due()
            now = self.clock.now()
            if due is not None and due <= now:
                # Before it first caught up (a start), or when far behind, every
                # stored event recorded before a deadline goes first; live, the
                # pump relays events as they commit.
                lagging = (now - due).total_seconds() > _LAG
                if (self._live and not lagging) or await self._caught_up():
                    self._live = True
                    out = [deadline_message(self.name, *d) for d in self.index.pop_due(now)]
                    if out:
                        await self._publish(out)
                        self.deadlines_published += len(out)
                    continue
                await self._wait(None, limit=0.05)  # the pump is about to queue an event
                continue
            await self._wait(due)

    async def _wait(self, due: datetime | None, limit: float | None = None) -> None:
        """Until an event is stored, a deadline changes, or the next one is due."""
        if self._queue.empty() and not self._wake.is_set():
            waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
            if due is not None:
                waits.add(asyncio.ensure_future(self.clock.sleep_until(due)))
            try:
                await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        for t in self._tasks:  # a follower that stopped: its error ends the feeder
            if t.done() and t is not asyncio.current_task() and not t.cancelled():
                t.result()

    async def _save(self, position: int) -> None:
        """Save the checkpoint, waiting out a bus outage: the feeder must not
        stop for one (nothing would feed the saga until the App restarted)."""
        await while_unavailable(
            lambda: self.checkpoint.save(position), self._retrying("saving the checkpoint")
        )

    def _retrying(self, what: str) -> Callable[[Exception, float], None]:
        def warn(error: Exception, pause: float) -> None:
            self.log.warning(
                f"saga feeder: {what} failed, retrying",
                error=f"{type(error).__name__}: {error}",
                retry_in=pause,
            )

        return warn

    async def _publish(self, out: list[OutgoingMessage]) -> None:
        await while_unavailable(
            lambda: self.bus.publish_many(out),
            self._retrying("publishing"),
            retry=(EventfluxError,),
            never=(TypeError, ValueError),  # bad data or subject: retrying cannot help
        )
