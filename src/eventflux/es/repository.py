"""The repository: load aggregates from their streams, save their new events.

Example::

    accounts = Repository(store, Account, snapshot_every=100)
    account = Account.open("42", owner="Ada")
    await accounts.save(account, metadata={"user": "teller-1"})

    account = await accounts.get("42")                   # now
    earlier = await accounts.get("42", as_of=yesterday)  # as it was then
    await accounts.update("42", lambda a: a.deposit(5), retries=3)
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from ..events import AppendResult, NewEvent
from ..exceptions import AggregateNotFoundError, ConcurrencyError, SerializationError
from ..store import EventStore
from .aggregate import Aggregate
from .cache import AggregateCache
from .context import current_metadata
from .retry import retry_on_conflict
from .snapshotting import Snapshots
from .turns import PATIENCE, Turns

__all__ = ["Repository", "save_together"]

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


class Repository(Generic[A]):
    """Loads and saves aggregates of one class in an event store.

    ``snapshot_every=N`` saves a snapshot whenever a save crosses a multiple
    of N events (the aggregate class needs a ``snapshot_type`` registered with
    the store's codec) and makes :meth:`get` start from it. Event classes are
    encoded by the store's codec, so register them there (``@register_event``
    for the default codec).

    ``cache_size=N`` keeps the N most recently used aggregates in this
    process (as deep copies). :meth:`get` then reads only the events stored
    after the cached version, and :meth:`update` first runs the command on the
    cached copy without reading at all: a stale copy shows up as a concurrency
    conflict (or a refusal), and the command then runs again on the stored
    state. Aggregates must change only through their events for this to hold.

    :meth:`update` and :meth:`update_all` of one aggregate take turns within
    the process (:class:`~eventflux.es.turns.Turns`): the second waits for the
    first, then starts from the version it saved, instead of conflicting and
    reading. ``patience`` is how long one waits at most (seconds); versions
    are checked on every save all the same.
    """

    def __init__(
        self,
        store: EventStore,
        aggregate_type: type[A],
        *,
        snapshot_every: int | None = None,
        cache_size: int = 0,
        patience: float = PATIENCE,
    ) -> None:
        if not (isinstance(aggregate_type, type) and issubclass(aggregate_type, Aggregate)):
            raise TypeError(f"{aggregate_type!r} is not an Aggregate subclass")
        if snapshot_every is not None:
            if isinstance(snapshot_every, bool) or not isinstance(snapshot_every, int):
                raise TypeError("snapshot_every must be an int or None")
            if snapshot_every < 1:
                raise ValueError("snapshot_every must be >= 1")
            if aggregate_type.snapshot_type is None:
                raise TypeError(
                    f"snapshot_every needs {aggregate_type.__name__}.snapshot_type: "
                    "a dataclass or msgspec Struct registered with the store's codec"
                )
        self.store = store
        self.aggregate_type = aggregate_type
        self.snapshot_every = snapshot_every
        self.prefix = aggregate_type.stream_prefix or aggregate_type.__name__.lower()
        self._snapshots = Snapshots(store, aggregate_type, snapshot_every)
        self._cache: AggregateCache[A] = AggregateCache(cache_size)
        self._turns = Turns(patience)

    def stream_name(self, aggregate_id: str) -> str:
        """The stream holding an aggregate's events: ``f"{prefix}-{id}"``."""
        return f"{self.prefix}-{aggregate_id}"

    # -- loading ------------------------------------------------------------------
    async def get(
        self, aggregate_id: str, *, as_of: datetime | None = None, version: int | None = None
    ) -> A:
        """Rebuild an aggregate from its events.

        ``as_of`` (aware datetime) gives the state after the events recorded at
        or before that time; ``version`` the state after that many events.
        Raises :class:`AggregateNotFoundError` when the aggregate has no events (by
        then), or fewer than ``version``. A usable snapshot is loaded first.
        """
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            raise ValueError(f"version must be an int >= 1, got {version!r}")
        stream = self.stream_name(aggregate_id)
        if as_of is None and version is None:
            cached = self._cache.take(aggregate_id)
            if cached is not None:
                cached_version = cached.version
                if await self._catch_up(cached):
                    if cached.version != cached_version:  # else the entry is still right
                        self._cache.put(cached)
                    return cached
        aggregate = await self._snapshots.load(aggregate_id, stream, as_of, version)
        if aggregate is None:
            aggregate = self.aggregate_type(aggregate_id)
            async for event in self.store.read(stream, as_of=as_of, limit=version):
                aggregate.replay_event(event.data, event.version)
        if aggregate.version == 0:
            detail = "its stream has no events"
            if as_of is not None:
                detail = f"it had no events as of {as_of.isoformat()}"
            raise AggregateNotFoundError(self.aggregate_type.__name__, aggregate_id, stream, detail)
        if as_of is None and version is None:
            self._snapshots.saw(stream, aggregate.version)
            self._cache.put(aggregate)
        if version is not None and aggregate.version < version:
            raise AggregateNotFoundError(
                self.aggregate_type.__name__,
                aggregate_id,
                stream,
                f"version {version} was asked for, but it has only {aggregate.version} events"
                + ("" if as_of is None else f" as of {as_of.isoformat()}"),
            )
        return aggregate

    async def _catch_up(self, aggregate: A) -> bool:
        """Apply the events stored after a cached aggregate's version; False if
        they do not follow on (the stream was changed some other way)."""
        stream = self.stream_name(aggregate.id)
        async for event in self.store.read(stream, from_version=aggregate.version + 1):
            if event.version != aggregate.version + 1:
                self._cache.drop(aggregate.id)
                return False
            aggregate.replay_event(event.data, event.version)
        return True

    async def exists(self, aggregate_id: str) -> bool:
        """True if the aggregate's stream holds events."""
        return await self.store.stream_version(self.stream_name(aggregate_id)) > 0

    # -- saving -------------------------------------------------------------------
    def _new_events(self, aggregate: A, metadata: Mapping[str, Any] | None) -> list[NewEvent]:
        if not isinstance(aggregate, self.aggregate_type):
            raise TypeError(
                f"this repository holds {self.aggregate_type.__name__}, "
                f"not {type(aggregate).__name__}"
            )
        ambient = current_metadata()
        meta: Mapping[str, Any] | None = (
            {**ambient, **metadata} if metadata else (dict(ambient) if ambient else None)
        )
        codec = self.store.codec
        events: list[NewEvent] = []
        for event in aggregate.pending_events:
            type_name = codec.type_name_of(event)
            if type_name is None:
                raise SerializationError(
                    f"event class {type(event).__name__} is not registered with the "
                    "store's codec; decorate it with @register_event (or codec.register)"
                )
            events.append(NewEvent(type_name, event, meta))
        return events

    async def save(
        self, aggregate: A, *, metadata: Mapping[str, Any] | None = None
    ) -> AppendResult | None:
        """Append the aggregate's pending events, expecting the version it was
        loaded at; returns the append result (None when nothing was pending).

        ``metadata`` (who, why, correlation id...) is stored with each event,
        on top of the ambient :func:`~eventflux.es.metadata_context`. A
        concurrent change raises :class:`~eventflux.ConcurrencyError` and writes
        nothing; reload and retry (see :meth:`update`).
        """
        events = self._new_events(aggregate, metadata)
        if not events:
            return None
        result = await self.store.append(
            self.stream_name(aggregate.id), events, expected_version=aggregate.saved_version
        )
        await self._saved(self.stream_name(aggregate.id), aggregate)
        return result

    async def save_all(
        self, aggregates: Iterable[A], *, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, AppendResult]:
        """Save several aggregates in one transaction: all of them or none.

        Each stream is checked against the version its aggregate was loaded
        at. Returns the results by aggregate id.
        """
        batch: dict[str, tuple[Sequence[NewEvent], int]] = {}
        owners: dict[str, A] = {}
        for aggregate in aggregates:
            events = self._new_events(aggregate, metadata)
            if not events:
                continue
            stream = self.stream_name(aggregate.id)
            if stream in batch:
                raise ValueError(f"aggregate {aggregate.id!r} is given twice")
            batch[stream] = (events, aggregate.saved_version)
            owners[stream] = aggregate
        if not batch:
            return {}
        results = await self.store.append_many(batch)
        out: dict[str, AppendResult] = {}
        for stream, aggregate in owners.items():
            await self._saved(stream, aggregate)
            out[aggregate.id] = results[stream]
        return out

    async def _saved(self, stream: str, aggregate: A) -> None:
        """``aggregate``'s pending events are stored in ``stream``: mark it saved,
        cache it, and take a snapshot if one is due."""
        old = aggregate.saved_version
        aggregate.mark_saved()
        self._snapshots.saw(stream, aggregate.version)
        self._cache.put(aggregate)
        await self._snapshots.after_save(stream, aggregate, old)

    @overload
    async def update(
        self,
        aggregate_id: str,
        command: Callable[[A], Awaitable[R]],
        *,
        retries: int = ...,
        metadata: Mapping[str, Any] | None = ...,
    ) -> R: ...

    @overload
    async def update(
        self,
        aggregate_id: str,
        command: Callable[[A], R],
        *,
        retries: int = ...,
        metadata: Mapping[str, Any] | None = ...,
    ) -> R: ...

    async def update(
        self,
        aggregate_id: str,
        command: Callable[[A], R | Awaitable[R]],
        *,
        retries: int = 3,
        metadata: Mapping[str, Any] | None = None,
    ) -> R:
        """Load, run ``command(aggregate)``, save; on a concurrency conflict
        reload and run it again, up to ``retries`` more times.

        Returns what the command returned. Domain errors raised by the command
        are not retried (with a cache, a command refused on the cached copy is
        decided again on the stored state first). Example::

            await accounts.update("42", lambda a: a.withdraw(30), retries=3)
        """

        async def run(aggregates: list[A]) -> R:
            return await _awaited(command(aggregates[0]))

        return await self._update([aggregate_id], run, retries, metadata)

    @overload
    async def update_all(
        self,
        aggregate_ids: Sequence[str],
        command: Callable[[list[A]], Awaitable[R]],
        *,
        retries: int = ...,
        metadata: Mapping[str, Any] | None = ...,
    ) -> R: ...

    @overload
    async def update_all(
        self,
        aggregate_ids: Sequence[str],
        command: Callable[[list[A]], R],
        *,
        retries: int = ...,
        metadata: Mapping[str, Any] | None = ...,
    ) -> R: ...

    async def update_all(
        self,
        aggregate_ids: Sequence[str],
        command: Callable[[list[A]], R | Awaitable[R]],
        *,
        retries: int = 3,
        metadata: Mapping[str, Any] | None = None,
    ) -> R:
        """:meth:`update` for a command that changes several aggregates at once:
        load them, run ``command(aggregates)`` (in the order of
        ``aggregate_ids``), save them in one transaction (:meth:`save_all`: all
        or none); on a concurrency conflict reload and run it again, up to
        ``retries`` more times.

        With a cache holding every one of them, the first try runs on the
        cached copies without reading, as :meth:`update` does. Example::

            def move(pair: list[Account]) -> None:
                source, target = pair
                source.send(target.id, 30)
                target.receive(source.id, 30)

            await accounts.update_all(["alice", "bob"], move)
        """
        ids = list(aggregate_ids)
        if not ids:
            raise ValueError("update_all needs at least one aggregate id")
        if len(set(ids)) != len(ids):
            raise ValueError(f"aggregate ids must differ, got {ids!r}")

        async def run(aggregates: list[A]) -> R:
            return await _awaited(command(aggregates))

        return await self._update(ids, run, retries, metadata)

    async def _update(
        self,
        ids: list[str],
        run: Callable[[list[A]], Awaitable[R]],
        retries: int,
        metadata: Mapping[str, Any] | None,
    ) -> R:
        """Run ``run`` on the aggregates ``ids`` and save them, first on cached
        copies when all are cached (no read at all), then on the stored state
        with retries on conflict."""

        async def save(aggregates: list[A]) -> None:
            if len(aggregates) == 1:
                await self.save(aggregates[0], metadata=metadata)
            else:
                await self.save_all(aggregates, metadata=metadata)

        async def attempt() -> R:
            aggregates = [await self.get(i) for i in ids]
            result = await run(aggregates)
            await save(aggregates)
            return result

        async with self._turns.take(ids):
            cached = [self._cache.take(i) for i in ids]
            copies = [a for a in cached if a is not None]
            if len(copies) == len(ids):  # optimistic: decide on the cached copies
                try:
                    result = await run(copies)
                except Exception:  # refused, perhaps on stale state: decide on the stored one
                    self._forget(ids)
                else:
                    try:
                        await save(copies)
                        return result
                    except ConcurrencyError:  # stale: nothing was written
                        self._forget(ids)
            return await retry_on_conflict(attempt, retries=retries)

    def _forget(self, ids: list[str]) -> None:
        for i in ids:
            self._cache.drop(i)


async def _awaited(value: R | Awaitable[R]) -> R:
    """``value``, awaited if it is awaitable (a command may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def save_together(
    *saves: tuple[Repository[Any], Aggregate], metadata: Mapping[str, Any] | None = None
) -> dict[str, AppendResult]:
    """Save aggregates of several repositories (several aggregate types) in one
    transaction: all of them or none. The repositories must share one store.

    Example::

        order.confirm()
        product.adjust_stock(-1, "order 7")
        await save_together((orders, order), (products, product))
    """
    if not saves:
        return {}
    store = saves[0][0].store
    batch: dict[str, tuple[Sequence[NewEvent], int]] = {}
    owners: list[tuple[Repository[Any], Aggregate, str]] = []
    for repo, aggregate in saves:
        if repo.store is not store:
            raise ValueError("save_together needs repositories of one event store")
        events = repo._new_events(aggregate, metadata)
        if not events:
            continue
        stream = repo.stream_name(aggregate.id)
        if stream in batch:
            raise ValueError(f"stream {stream!r} is given twice")
        batch[stream] = (events, aggregate.saved_version)
        owners.append((repo, aggregate, stream))
    if not batch:
        return {}
    results = await store.append_many(batch)
    for repo, aggregate, stream in owners:
        await repo._saved(stream, aggregate)
    return {stream: results[stream] for _, _, stream in owners}
