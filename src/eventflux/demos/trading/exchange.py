"""The exchange: one sequencer that decides in memory and stores in batches.

Every order, cancel, amend and deposit goes through one queue. The sequencer
takes whatever has queued up (up to ``batch_size``), runs each request on the
in-memory :class:`~.state.ExchangeState` (matching, risk, halts), adds the
quotes that changed and the halts whose cooldown ended, and appends all the
new events of the batch in one transaction (``append_many``, each stream at
its expected version). Only then are the requests answered: an
acknowledgement always means the events are stored. Each event carries the
metadata of the request that caused it (correlation id, causation id, actor).

Batching is what makes it fast on SQLite: one commit (one fsync) for many
orders. If the append fails, the in-memory state is rebuilt from the store
(the batch's changes are dropped); a conflict (another process wrote to a
book) rebuilds and runs the batch again.

Example::

    exchange = Exchange(store, lambda: ExchangeState(listings))
    runner = asyncio.create_task(exchange.run())
    ack = await exchange.call(lambda s: s.submit("ann", "ACME", "buy", 10, 10_000), {})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ...events import NewEvent
from ...exceptions import AppNotRunningError, ConcurrencyError
from ...store import EventStore
from .state import ExchangeState

__all__ = ["Exchange"]

log = logging.getLogger("eventflux.demos.trading")
R = TypeVar("R")
Request = Callable[[ExchangeState], tuple[Any, list[tuple[str, Any]]]]
_Item = tuple[Request, Mapping[str, Any], "asyncio.Future[Any]"]


class Exchange:
    """The sequencer around an :class:`ExchangeState`; see the module docs."""

    def __init__(
        self,
        store: EventStore,
        make_state: Callable[[], ExchangeState],
        *,
        batch_size: int = 1000,
        tick: float = 0.2,
    ) -> None:
        self.store = store
        self.make_state = make_state
        self.state = make_state()
        self.batch_size = batch_size
        self.tick = tick
        self.versions: dict[str, int] = {}
        #: the global position up to which every ``trading-`` event is folded
        self.position = 0
        self.batches = 0
        self.loaded = asyncio.Event()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._closed = False

    async def call(self, request: Request, metadata: Mapping[str, Any]) -> Any:
        """Run ``request`` in the next batch; its result once its events are stored."""
        if self._closed:
            raise AppNotRunningError(
                "the exchange is not running: its App stopped, or it restarts after an error"
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((request, metadata, future))
        return await future

    async def run(self) -> None:
        """Load the state from the store, then serve batches until cancelled.
        After an error it may run again (the App restarts a failed task): it
        then reloads the state before it serves."""
        self._closed = False
        self.loaded.clear()
        try:
            await self._load()
            self.loaded.set()
            while True:
                try:
                    first = await asyncio.wait_for(self._queue.get(), self.tick)
                    batch = [first]
                except TimeoutError:
                    batch = []
                queue = self._queue
                while len(batch) < self.batch_size and not queue.empty():
                    batch.append(queue.get_nowait())
                await self._process(batch)
        finally:
            self._closed = True
            closed = AppNotRunningError("the exchange stopped before answering")
            while not self._queue.empty():
                _, _, future = self._queue.get_nowait()
                if not future.done():
                    future.set_exception(closed)

    async def _load(self) -> None:
        for attempt in range(3):
            self.state, self.versions, self.position = self.make_state(), {}, 0
            await self._catch_up()
            state = self.state
            opened = state.open_books()
            if not opened:
                return
            try:
                await self._append(self._group(opened, {}))
                return
            except ConcurrencyError:
                # another exchange on this store opened the books first: read them
                if attempt == 2:
                    raise

    async def _catch_up(self) -> None:
        """Fold the ``trading-`` events stored since the last look: those another
        exchange on this store wrote (an order must not be refused for an
        account or a book state this one has not seen yet). Its own events are
        skipped by their versions."""
        state, versions = self.state, self.versions
        async for e in self.store.read_all(after=self.position, stream_prefix="trading-"):
            self.position = e.position
            if e.version > versions.get(e.stream, 0):
                versions[e.stream] = e.version
                state.replay(e.stream, e.data, e.recorded_at)
        state.touched.clear()  # their writer published those books' quotes

    def _group(
        self, emitted: list[tuple[str, Any]], metadata: Mapping[str, Any]
    ) -> dict[str, list[NewEvent]]:
        codec = self.store.codec
        out: dict[str, list[NewEvent]] = {}
        meta = dict(metadata) if metadata else None
        for stream, event in emitted:
            type_name = codec.type_name_of(event)
            if type_name is None:
                raise TypeError(f"{type(event).__name__} is not a registered event class")
            out.setdefault(stream, []).append(NewEvent(type_name, event, meta))
        return out

    async def _append(self, grouped: dict[str, list[NewEvent]]) -> None:
        if not grouped:
            return
        batch = {s: (events, self.versions.get(s, 0)) for s, events in grouped.items()}
        results = await self.store.append_many(batch)
        for stream, result in results.items():
            self.versions[stream] = result.last_version
        # nobody else wrote since the last look when the batch's positions
        # follow it: skip reading the batch back on the next catch-up
        count = sum(len(events) for events in grouped.values())
        last = max(result.position for result in results.values())
        if last - count == self.position:
            self.position = last

    async def _process(self, batch: list[_Item]) -> None:
        for attempt in range(3):
            await self._catch_up()
            answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
            # halts whose cooldown ended resume first: this batch's orders may trade
            grouped = self._group(self.state.resume_due(), {})
            for request, metadata, future in batch:
                try:
                    result, emitted = request(self.state)
                except Exception as e:  # a refusal (OrderError...) or bad input: answered
                    answers.append((future, None, e))
                    continue
                for stream, events in self._group(emitted, metadata).items():
                    grouped.setdefault(stream, []).extend(events)
                answers.append((future, result, None))
            for stream, events in self._group(self.state.quotes(), {}).items():
                grouped.setdefault(stream, []).extend(events)
            try:
                await self._append(grouped)
            except ConcurrencyError as e:
                log.warning("trading: another writer changed a book (%s); reloading", e)
                await self._load()
                if attempt < 2:
                    continue
                self._answer([(f, None, e) for f, _, _ in answers])
                return
            except BaseException as e:
                with contextlib.suppress(Exception):
                    await self._load()  # drop the batch's changes from memory
                self._answer([(f, None, e) for f, _, _ in answers])
                if not isinstance(e, Exception):
                    raise
                return
            self.batches += 1
            self._answer(answers)
            return

    @staticmethod
    def _answer(answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
        for future, result, error in answers:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
