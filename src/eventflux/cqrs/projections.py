"""Projections: keep a read model up to date from the event store.

A projection has one handler per event class (marked with :func:`handles`;
the class comes from the annotation of the first parameter, as for aggregate
apply methods, or is named in the decorator, as a class or a stored type
name). Handlers write through the read model's transaction; the runner
applies events in batches, each batch and the new checkpoint in one unit of
work, so every event changes the read model exactly once, across crashes.

Example::

    class Catalog(Projection[SQLiteTransaction]):
        name = "shop-catalog"

        def create_schema(self, tx: SQLiteTransaction) -> None:
            tx.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price INT)")

        @handles
        def added(self, event: ProductAdded, tx: SQLiteTransaction) -> None:
            tx.execute("INSERT INTO products VALUES (?, ?, ?)",
                       (event.sku, event.name, event.price))

    catalog = Catalog(SQLiteReadModel("shop-read.db"))
    await catalog.catch_up(store)        # or: asyncio.create_task(catalog.run(store))
    print(await catalog.status(store))   # checkpoint, head, lag
    await catalog.rebuild(store)         # from position zero, beside the live model, then swap

A handler may take a third parameter, the :class:`~eventflux.RecordedEvent`
(for its position, time and metadata), and may be ``async def`` (on a
read model whose transaction methods are coroutines, PostgreSQL's, the
handlers and ``create_schema`` must be; a projection with plain ones is
refused when it is constructed). Events
without a handler only advance the checkpoint. When every handler is a plain
function, the read model may run a whole batch on its writer thread (SQLite
does), so plain handlers must not touch the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Generic, TypeVar, overload

from ..es._typed import defining_namespace, event_classes
from ..events import RecordedEvent
from ..exceptions import ConfigurationError, ProjectionError
from ..store import EventStore
from .readmodel import ReadModel, UnitOfWork

__all__ = ["Projection", "ProjectionStatus", "handles"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__eventflux_handles__"
#: handler, and whether it takes the RecordedEvent as well
_Entry = tuple[Callable[..., Any], bool]
Progress = Callable[[int, int], None]


@overload
def handles(target: type[Any] | str, /) -> Callable[[F], F]: ...
@overload
def handles(target: F, /) -> F: ...
def handles(target: Any, /) -> Any:
    """Mark a projection method as the handler of an event class.

    Bare (``@handles``) takes the class from the first parameter's
    annotation; ``@handles(ProductAdded)`` names the class and
    ``@handles("ProductAdded")`` a stored type name (for events read as dicts).
    """
    if isinstance(target, type | str):
        key = target

        def mark(fn: F) -> F:
            setattr(fn, _MARK, (key,))
            return fn

        return mark
    if not callable(target):
        raise TypeError(f"@handles decorates methods or takes an event class, not {target!r}")
    setattr(target, _MARK, ())
    return target


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


#: Extra catch-up passes of a rebuild before its swap (each one shrinks the backlog).
_CATCH_UP_PASSES: Final = 5


class Projection(Generic[T]):
    """Base class of projections writing into a :class:`ReadModel` of transaction type ``T``.

    Class attributes: ``name`` (default: the class name in kebab case; it
    keys the checkpoint) and ``batch_size`` (events per transaction).
    """

    name: ClassVar[str] = ""
    batch_size: int = 500
    _by_class: ClassVar[dict[type[Any], _Entry]] = {}
    _by_type: ClassVar[dict[str, _Entry]] = {}
    _own: ClassVar[dict[type[Any] | str, _Entry]] = {}
    _dispatch: ClassVar[dict[type[Any], _Entry | None]] = {}
    #: True when every handler is a plain function: batches may run off the loop
    _blocking: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        localns = defining_namespace(1)
        own: dict[type[Any] | str, _Entry] = {}
        for attr, member in cls.__dict__.items():
            if not inspect.isfunction(member) or not hasattr(member, _MARK):
                continue
            keys: tuple[type[Any] | str, ...] = getattr(member, _MARK) or event_classes(
                member, cls, localns, kind="projection handler", arities=(3, 4)
            )
            takes_recorded = len(inspect.signature(member).parameters) == 4
            for key in keys:
                if key in own:
                    label = key if isinstance(key, str) else key.__qualname__
                    raise TypeError(f"{cls.__qualname__} has two handlers for {label}: {attr}")
                own[key] = (member, takes_recorded)
        merged: dict[type[Any] | str, _Entry] = {}
        for base in reversed(cls.__mro__[1:]):
            merged.update(base.__dict__.get("_own", {}))
        merged.update(own)
        cls._own = own
        cls._by_class = {k: v for k, v in merged.items() if isinstance(k, type)}
        cls._by_type = {k: v for k, v in merged.items() if isinstance(k, str)}
        cls._dispatch = {}
        cls._blocking = not any(inspect.iscoroutinefunction(fn) for fn, _ in merged.values())
        if not cls.__dict__.get("name"):
            cls.name = _kebab(cls.__name__)

    def __init__(self, model: ReadModel[T]) -> None:
        if model.async_handlers_only:
            self._require_async(model)
        self.model = model
        self._position = 0
        self._advanced = asyncio.Event()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.model!r}>"

    def _require_async(self, model: ReadModel[T]) -> None:
        """Refuse plain handlers on a model whose transaction methods are coroutines
        (a plain handler could not await them: its writes would never run)."""
        plain = {
            fn.__qualname__
            for fn, _ in (*self._by_class.values(), *self._by_type.values())
            if not inspect.iscoroutinefunction(fn)
        }
        schema = type(self).create_schema
        if schema is not Projection.create_schema and not inspect.iscoroutinefunction(schema):
            plain.add(schema.__qualname__)
        if plain:
            raise ConfigurationError(
                f"{model!r} needs async handlers (its transaction's methods are "
                f"coroutines); make these async def: {', '.join(sorted(plain))}"
            )

    def create_schema(self, tx: T) -> Any:
        """Create the read model's tables (runs once, in the first unit of work)."""

    # -- applying events ----------------------------------------------------------
    def _handler_for(self, event: RecordedEvent) -> _Entry | None:
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

    async def _apply_in(self, uow: UnitOfWork[T], events: list[RecordedEvent]) -> int:
        """Apply the events after the unit of work's checkpoint; returns how many."""
        applied = 0
        tx = uow.tx
        for event in events:
            if event.position <= uow.checkpoint:
                continue  # already in the read model (another runner, or a rebuild)
            entry = self._handler_for(event)
            if entry is not None:
                fn, takes_recorded = entry
                try:
                    result = (
                        fn(self, event.data, tx, event)
                        if takes_recorded
                        else fn(self, event.data, tx)
                    )
                    if inspect.isawaitable(result):
                        await result
                except Exception as e:
                    raise ProjectionError(self.name, event.position, event.type, e) from e
            uow.checkpoint = event.position
            applied += 1
        return applied

    async def _setup(self, model: ReadModel[T]) -> None:
        async with model.unit_of_work(self.name) as uow:
            if uow.is_new:
                try:
                    result = self.create_schema(uow.tx)
                    if inspect.isawaitable(result):
                        await result
                except Exception as e:
                    raise ProjectionError(self.name, 0, "(create_schema)", e) from e

    def _apply_blocking(self, uow: UnitOfWork[T], events: list[RecordedEvent]) -> tuple[int, int]:
        """The batch with synchronous handlers only (maybe on a worker thread)."""
        applied = 0
        tx = uow.tx
        for event in events:
            if event.position <= uow.checkpoint:
                continue
            entry = self._handler_for(event)
            if entry is not None:
                fn, takes_recorded = entry
                try:
                    fn(self, event.data, tx, event) if takes_recorded else fn(self, event.data, tx)
                except Exception as e:
                    raise ProjectionError(self.name, event.position, event.type, e) from e
            uow.checkpoint = event.position
            applied += 1
        return applied, uow.checkpoint

    async def _apply_batch(self, model: ReadModel[T], events: list[RecordedEvent]) -> int:
        if self._blocking:
            applied, position = await model.run_unit_of_work(
                self.name, lambda uow: self._apply_blocking(uow, events)
            )
        else:
            async with model.unit_of_work(self.name) as uow:
                applied = await self._apply_in(uow, events)
                position = uow.checkpoint
        if model is self.model:
            self._advance(position)
        return applied

    def _advance(self, position: int) -> None:
        if position > self._position:
            self._position = position
            advanced, self._advanced = self._advanced, asyncio.Event()
            advanced.set()

    # -- running ------------------------------------------------------------------
    async def catch_up(self, store: EventStore) -> int:
        """Apply every event not yet in the read model; returns how many were applied."""
        return await self._catch_up(store, self.model, None)

    async def _catch_up(
        self, store: EventStore, model: ReadModel[T], progress: Progress | None
    ) -> int:
        await self._setup(model)
        total = 0
        head = await store.last_position()
        after = await model.checkpoint(self.name)
        while True:
            batch = [e async for e in store.read_all(after=after, limit=self.batch_size)]
            if not batch:
                break
            total += await self._apply_batch(model, batch)
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
        :class:`~eventflux.cqrs.ProjectionError`.
        """
        await self._setup(self.model)
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
                    await self._apply_batch(self.model, batch)
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
        """The projection's checkpoint, the store's head position and the lag."""
        return ProjectionStatus(
            self.name, await self.model.checkpoint(self.name), await store.last_position()
        )

    async def lag(self, store: EventStore) -> int:
        """How many positions the read model is behind the store."""
        return (await self.status(store)).lag

    # -- rebuilding ---------------------------------------------------------------
    async def rebuild(self, store: EventStore, *, progress: Progress | None = None) -> int:
        """Replay every event from position zero into a fresh model beside the
        live one, then swap it in atomically; returns the events replayed.

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
        fresh = await self.model.create_fresh(self.name)
        try:
            replayed = await self._catch_up(store, fresh, progress)
            for _ in range(_CATCH_UP_PASSES):
                more = await self._catch_up(store, fresh, progress)
                replayed += more
                if more < self.batch_size:
                    break
            async with self.model.swap_in(fresh, self.name) as uow:
                head = await store.last_position()
                while uow.checkpoint < head:
                    batch = [
                        e
                        async for e in store.read_all(after=uow.checkpoint, limit=self.batch_size)
                        if e.position <= head
                    ]
                    if not batch:
                        break
                    replayed += await self._apply_in(uow, batch)
                position = uow.checkpoint
            self._advance(position)
            if progress is not None:
                progress(position, max(position, await store.last_position()))
            return replayed
        finally:
            await fresh.discard()
