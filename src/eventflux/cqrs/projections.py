"""Projections: keep a read model up to date from the event store.

A projection has one handler per event class (marked with :func:`handles`;
the class comes from the annotation of the first parameter, as for aggregate
apply methods, or is named in the decorator, as a class or a stored type
name). Handlers write through the unit of work's
:class:`~eventflux.cqrs.Transaction`; the runner applies events in batches,
each batch and the new checkpoint in one unit of work, so every event changes
the read model exactly once, across crashes.

Example::

    class Catalog(Projection):
        name = "shop-catalog"

        def create_schema(self, tx: Transaction) -> None:
            tx.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price INT)")

        @handles
        def added(self, event: ProductAdded, tx: Transaction) -> None:
            tx.execute("INSERT INTO products VALUES (:sku, :name, :price)",
                       {"sku": event.sku, "name": event.name, "price": event.price})

    catalog = Catalog(open_read_model("sqlite:///shop-read.db"))  # or postgresql://...
    await catalog.catch_up(store)        # or: asyncio.create_task(catalog.run(store))
    print(await catalog.status(store))   # checkpoint, head, lag
    await catalog.rebuild(store)         # from position zero, beside the live model, then swap

The same class runs unchanged on every read model. A handler may take a
third parameter, the :class:`~eventflux.RecordedEvent` (for its position,
time and metadata), and may be ``async def``; ``create_schema`` too. Events
without a handler only advance the checkpoint. Where the handlers run:

- every handler (and ``create_schema``) a plain function: each batch runs
  whole on the read model's writer thread (one thread hop per batch), so the
  event loop stays free. Plain handlers must not touch the event loop.
- any ``async def`` among them: batches run on the event loop, so handlers can
  await what the application awaits; their statements are plain calls that
  hold the loop while they run.

A read model belongs to one event store (see :mod:`.store_identity`): another
store, or a checkpoint beyond the store's head, is refused before anything is
applied, and a rebuild never swaps an empty model over a live one that holds
events unless ``force=True``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from ..es.event_classes import defining_namespace
from ..events import RecordedEvent
from ..exceptions import ProjectionError
from ..observability.logs import get_logger
from ..store import EventStore
from .handlers import HandlerEntry, handles, own_handlers
from .readmodel import ReadModel, Transaction, UnitOfWork
from .store_identity import checked_store_id, claim, unsafe_rebuild

__all__ = ["Projection", "ProjectionStatus", "handles"]

R = TypeVar("R")
Progress = Callable[[int, int], None]
#: Extra catch-up passes of a rebuild before its swap (each one shrinks the backlog).
_CATCH_UP_PASSES: Final = 5
_std = logging.getLogger("eventflux.projections")
_log = get_logger("eventflux.projections")


@dataclass(frozen=True, slots=True)
class ProjectionStatus:
    """Where a projection stands: its checkpoint, the store's head, the lag between."""

    name: str
    checkpoint: int
    head: int

    @property
    def lag(self) -> int:
        """Positions between the checkpoint and the head (0 when caught up)."""
        return max(0, self.head - self.checkpoint)


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _to_the_end(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine that never suspends (it awaits nothing that waits) to its
    end, without an event loop: how the writer thread runs the projection loop
    when every handler is a plain function."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: R = done.value
        return result
    coro.close()
    raise RuntimeError("a projection with plain handlers only awaited something")


class Projection:
    """Base class of projections writing into a :class:`~eventflux.cqrs.ReadModel`.

    Class attributes: ``name`` (default: the class name in kebab case; it
    keys the checkpoint) and ``batch_size`` (events per transaction).
    """

    name: ClassVar[str] = ""
    batch_size: int = 500
    _by_class: ClassVar[dict[type[Any], HandlerEntry]] = {}
    _by_type: ClassVar[dict[str, HandlerEntry]] = {}
    _own: ClassVar[dict[type[Any] | str, HandlerEntry]] = {}
    _dispatch: ClassVar[dict[type[Any], HandlerEntry | None]] = {}
    #: True when every handler and create_schema are plain functions: units of
    #: work run whole on the read model's writer thread
    _plain: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = own_handlers(cls, defining_namespace(1))
        merged: dict[type[Any] | str, HandlerEntry] = {}
        for base in reversed(cls.__mro__[1:]):
            merged.update(base.__dict__.get("_own", {}))
        merged.update(own)
        cls._own = own
        cls._by_class = {k: v for k, v in merged.items() if isinstance(k, type)}
        cls._by_type = {k: v for k, v in merged.items() if isinstance(k, str)}
        cls._dispatch = {}
        functions = [fn for fn, _ in merged.values()] + [cls.create_schema]
        cls._plain = not any(inspect.iscoroutinefunction(fn) for fn in functions)
        if not cls.__dict__.get("name"):
            cls.name = _kebab(cls.__name__)

    def __init__(self, model: ReadModel) -> None:
        self.model = model
        self._position = 0
        self._advanced = asyncio.Event()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.model!r}>"

    def create_schema(self, tx: Transaction) -> Any:
        """Create the read model's tables (runs once, in the first unit of work;
        plain or ``async def``)."""

    # -- applying events ----------------------------------------------------------
    def _handler_for(self, event: RecordedEvent) -> HandlerEntry | None:
        entry = self._by_type.get(event.type)
        if entry is not None:
            return entry
        cls = type(event.data)
        try:
            return self._dispatch[cls]
        except KeyError:
            pass
        found = next((self._by_class[k] for k in cls.__mro__ if k in self._by_class), None)
        self._dispatch[cls] = found
        return found

    async def _apply(self, uow: UnitOfWork, events: Sequence[RecordedEvent]) -> tuple[int, int]:
        """The projection loop: apply the events after the unit of work's
        checkpoint, moving it past each one; returns (how many were applied,
        the new checkpoint). With plain handlers only it never suspends: the
        writer thread runs it to the end (see :func:`_to_the_end`)."""
        applied = 0
        tx = uow.tx
        for event in events:
            if event.position <= uow.checkpoint:
                continue  # already in the read model (another runner, or a rebuild)
            if uow.cancelled:
                break  # the unit of work rolls back
            entry = self._handler_for(event)
            if entry is not None:
                fn, takes_recorded = entry
                try:
                    result = (
                        fn(self, event.data, tx, event)
                        if takes_recorded
                        else fn(self, event.data, tx)
                    )
                    if result is not None and inspect.isawaitable(result):
                        await result
                except Exception as e:
                    raise ProjectionError(self.name, event.position, event.type, e) from e
            uow.checkpoint = event.position
            applied += 1
        return applied, uow.checkpoint

    async def _create_schema(self, uow: UnitOfWork) -> None:
        if not uow.is_new:
            return
        try:
            result = self.create_schema(uow.tx)
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            raise ProjectionError(self.name, 0, "(create_schema)", e) from e

    async def _in_unit_of_work(
        self,
        model: ReadModel,
        store_id: str,
        work: Callable[[UnitOfWork], Coroutine[Any, Any, R]],
    ) -> R:
        """Run ``work`` in one unit of work, for the store ``store_id``: whole on
        the writer thread when every handler is plain, else on the event loop.
        The unit of work holds the checkpoint, so the store it belongs to is
        checked (and recorded) there, whatever other runners did meanwhile."""

        async def claimed(uow: UnitOfWork) -> R:
            claim(uow, self.name, model.url, store_id)
            return await work(uow)

        if self._plain:
            return await model.run_unit_of_work(self.name, lambda uow: _to_the_end(claimed(uow)))
        async with model.unit_of_work(self.name) as uow:
            return await claimed(uow)

    async def _apply_batch(
        self, model: ReadModel, store_id: str, events: Sequence[RecordedEvent]
    ) -> int:
        logging_on = _std.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if logging_on else 0.0
        applied, position = await self._in_unit_of_work(
            model, store_id, lambda uow: self._apply(uow, events)
        )
        if model is self.model:
            self._advance(position)
        if logging_on:
            self._log_batch(model, events, applied, position, time.perf_counter() - started)
        return applied

    def _log_batch(
        self,
        model: ReadModel,
        events: Sequence[RecordedEvent],
        applied: int,
        checkpoint: int,
        seconds: float,
    ) -> None:
        """The ``projection batch`` line (DEBUG): one per committed batch."""
        correlations = {e.metadata.get("correlation_id") for e in events} - {None}
        _log.debug(
            "projection batch",
            projection=self.name,
            rebuild=model is not self.model,
            events=len(events),
            applied=applied,
            first_position=events[0].position if events else None,
            last_position=events[-1].position if events else None,
            checkpoint=checkpoint,
            correlation_ids=sorted(map(str, correlations))[:20],
            duration_ms=round(seconds * 1000, 3),
        )

    def _advance(self, position: int) -> None:
        if position > self._position:
            self._position = position
            advanced, self._advanced = self._advanced, asyncio.Event()
            advanced.set()

    # -- running ------------------------------------------------------------------
    async def catch_up(self, store: EventStore) -> int:
        """Apply every event not yet in the read model; returns how many were applied.

        Raises :class:`~eventflux.WrongStoreError` when the read model follows
        another store, :class:`~eventflux.CheckpointAheadError` when its
        checkpoint is beyond the store's head."""
        return await self._catch_up(
            store, self.model, await checked_store_id(store, self.model, self.name), None
        )

    async def _catch_up(
        self, store: EventStore, model: ReadModel, store_id: str, progress: Progress | None
    ) -> int:
        await self._in_unit_of_work(model, store_id, self._create_schema)
        total = 0
        head = await store.last_position()
        after = await model.checkpoint(self.name)
        while True:
            batch = [e async for e in store.read_all(after=after, limit=self.batch_size)]
            if not batch:
                break
            total += await self._apply_batch(model, store_id, batch)
            after = batch[-1].position
            if progress is not None:
                progress(after, max(head, after))
            if len(batch) < self.batch_size:
                break
        return total

    async def run(self, store: EventStore) -> None:
        """Follow the store: catch up, then apply new events as they commit.

        Runs until the store closes or the task is cancelled (a cancelled
        batch is rolled back whole). A handler error stops it with
        :class:`~eventflux.cqrs.ProjectionError`; a read model of another store
        with :class:`~eventflux.WrongStoreError`, a checkpoint beyond the
        store's head with :class:`~eventflux.CheckpointAheadError`.
        """
        store_id = await checked_store_id(store, self.model, self.name)
        await self._in_unit_of_work(self.model, store_id, self._create_schema)
        after = await self.model.checkpoint(self.name)
        self._advance(after)
        queue: asyncio.Queue[RecordedEvent | BaseException | None] = asyncio.Queue(
            maxsize=2 * self.batch_size
        )

        async def pump() -> None:
            try:
                async for event in store.subscribe(after=after):
                    await queue.put(event)
            except Exception as e:
                await queue.put(e)
                return
            await queue.put(None)

        pumping = asyncio.create_task(pump(), name=f"projection {self.name} subscription")
        try:
            done = False
            while not done:
                item = await queue.get()
                batch: list[RecordedEvent] = []
                while True:
                    if item is None:
                        done = True
                        break
                    if isinstance(item, BaseException):
                        raise item
                    batch.append(item)
                    if len(batch) >= self.batch_size or queue.empty():
                        break
                    item = queue.get_nowait()
                if batch:
                    await self._apply_batch(self.model, store_id, batch)
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)

    async def wait_for(self, position: int) -> None:
        """Wait until the read model holds every event up to ``position``.

        Works whether this projection runs in this process or another one
        (it then polls the stored checkpoint). Bound the wait with
        ``asyncio.timeout``.
        """
        while self._position < position:
            stored = await self.model.checkpoint(self.name)
            if stored >= position:
                self._advance(stored)
                break
            advanced = self._advanced
            try:
                async with asyncio.timeout(0.05):
                    await advanced.wait()
            except TimeoutError:
                pass

    async def status(self, store: EventStore) -> ProjectionStatus:
        """The projection's checkpoint, the store's head position and the lag.

        A read model of another store raises :class:`~eventflux.WrongStoreError`
        and a checkpoint beyond the store's head
        :class:`~eventflux.CheckpointAheadError`: never a lag of 0 that hides
        them."""
        await checked_store_id(store, self.model, self.name)
        return ProjectionStatus(
            self.name, await self.model.checkpoint(self.name), await store.last_position()
        )

    async def lag(self, store: EventStore) -> int:
        """How many positions the read model is behind the store."""
        return (await self.status(store)).lag

    # -- rebuilding ---------------------------------------------------------------
    async def rebuild(
        self, store: EventStore, *, progress: Progress | None = None, force: bool = False
    ) -> int:
        """Replay every event from position zero into a fresh model beside the
        live one, then swap it in atomically; returns the events replayed.

        A live model built from another store raises
        :class:`~eventflux.WrongStoreError`; a replay that finds no events while
        the live model has applied some raises
        :class:`~eventflux.UnsafeRebuildError` and swaps nothing in (a store
        pointed at by mistake would empty the read model). ``force=True`` does
        both anyway: the model is then rebuilt from this store alone.

        Queries keep reading the old model until the swap commits, and the
        live projection (here or in another process) may keep running.
        ``progress(position, head)`` is called after each batch.

        The swap holds the live tables locked (PostgreSQL) or the file's write
        lock (SQLite) while it applies what arrived since the replay, so it
        is kept short: the fresh model first catches up again while the
        backlog is more than a batch (a few passes at most), and the swap
        applies events only up to the head it finds when it begins; later
        ones are the live projection's, as usual.
        """
        store_id = await store.store_id()
        live = await self.model.checkpoint(self.name)
        if not force:  # a rebuild is what repairs a checkpoint beyond the head
            await checked_store_id(store, self.model, self.name, ahead=False)
        fresh = await self.model.create_fresh(self.name)
        try:
            replayed = await self._catch_up(store, fresh, store_id, progress)
            for _ in range(_CATCH_UP_PASSES):
                more = await self._catch_up(store, fresh, store_id, progress)
                replayed += more
                if more < self.batch_size:
                    break
            if not force and live > 0 and await fresh.checkpoint(self.name) == 0:
                raise unsafe_rebuild(self.name, self.model.url, live)
            applied, position = await self._swap(store, fresh, store_id)
            replayed += applied
            self._advance(position)
            if progress is not None:
                progress(position, max(position, await store.last_position()))
            return replayed
        finally:
            await fresh.discard()

    async def _swap(self, store: EventStore, fresh: ReadModel, store_id: str) -> tuple[int, int]:
        """Swap ``fresh`` in; in the same transaction, apply the events up to the
        head the store has once the swap holds the live checkpoint (so the
        checkpoint never goes back, whatever the live runner did meanwhile).
        The swapped-in checkpoint belongs to ``store_id``."""
        if not self._plain:
            async with self.model.unit_of_work(self.name, swap_in=fresh) as uow:
                uow.store_id = store_id
                return await self._apply(uow, await self._backlog(store, uow.checkpoint))
        loop = asyncio.get_running_loop()

        def swap(uow: UnitOfWork) -> tuple[int, int]:  # on the writer thread
            uow.store_id = store_id
            reading = self._backlog(store, uow.checkpoint)
            backlog = asyncio.run_coroutine_threadsafe(reading, loop).result()
            return _to_the_end(self._apply(uow, backlog))

        return await self.model.run_unit_of_work(self.name, swap, swap_in=fresh)

    async def _backlog(self, store: EventStore, after: int) -> list[RecordedEvent]:
        """The events after ``after`` up to the store's head now."""
        head = await store.last_position()
        events: list[RecordedEvent] = []
        while after < head:
            batch = [
                e
                async for e in store.read_all(after=after, limit=self.batch_size)
                if e.position <= head
            ]
            if not batch:
                break
            events += batch
            after = batch[-1].position
        return events
