"""The read model that projections write and queries read: one API on every backend.

:func:`~eventflux.cqrs.open_read_model` picks the backend by URL
(``sqlite:///read.db``, ``postgresql://user@host/db?schema=read``) and returns
a :class:`ReadModel`, which holds it. The same projection class, the same
queries and the same SQL (``:name`` placeholders) run on every backend.

Example::

    model = open_read_model("sqlite:///shop-read.db")
    catalog = Catalog(model)
    await catalog.catch_up(store)
    low = await model.fetch_all("SELECT sku FROM products WHERE stock <= :n", {"n": 5})
    async with model.snapshot() as db:  # several queries, one committed state
        page = await db.fetch_all("SELECT * FROM products ORDER BY sku LIMIT 10")
        total = await db.fetch_value("SELECT count(*) FROM products")
    await model.close()

Writes go through units of work (one transaction holding a projection's
checkpoint). Their blocking parts run on the model's writer thread: the whole
unit of work for :meth:`ReadModel.run_unit_of_work` (a projection whose
handlers are all plain functions), begin and commit only for
:meth:`ReadModel.unit_of_work`, whose body runs on the event loop (a
projection with ``async def`` handlers). Queries are coroutines on
connections of their own and see committed data only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, Generic, TypeVar

from .backend import Params, ReadModelBackend, ReadSnapshot, Row, UnitOfWork
from .writer import WriterThread

__all__ = ["ReadModel"]

R = TypeVar("R")


class _Cancelled(Exception):
    """A unit of work stopped because its task was cancelled (never seen outside)."""


class _Run(Generic[R]):
    """A whole unit of work on the writer thread, and its cancellation from the loop."""

    def __init__(
        self,
        backend: ReadModelBackend,
        begin: Callable[[], UnitOfWork],
        work: Callable[[UnitOfWork], R],
        name: str,
    ) -> None:
        self.backend = backend
        self.begin = begin
        self.work = work
        self.name = name
        self.uow: UnitOfWork | None = None
        self.cancelled = False

    def __call__(self) -> R:
        backend = self.backend
        try:
            uow = self.uow = self.begin()
            if self.cancelled:
                raise _Cancelled
            result = self.work(uow)
            if uow.cancelled:  # the work stopped early: none of it goes in
                raise _Cancelled
            backend.commit(uow, self.name)
            return result
        except BaseException:
            backend.rollback()
            raise

    def cancel(self) -> None:
        self.cancelled = True
        if self.uow is not None:
            self.uow.cancelled = True
        self.backend.interrupt()


class ReadModel:
    """A read model: a SQLite file or a PostgreSQL schema holding projections'
    tables and checkpoints.

    Build it with :func:`~eventflux.cqrs.open_read_model`; it opens its
    connections on first use. Every method is the same on every backend.
    """

    def __init__(self, backend: ReadModelBackend) -> None:
        self._backend = backend
        self._writer = WriterThread()
        self._lock = asyncio.Lock()

    @property
    def backend(self) -> ReadModelBackend:
        """The backend this read model holds."""
        return self._backend

    @property
    def url(self) -> str:
        """The read model's URL, without secrets: ``sqlite:///shop-read.db``."""
        return self._backend.url

    def __repr__(self) -> str:
        return f"ReadModel({self.url!r})"

    # -- reading ------------------------------------------------------------------------
    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row of a query on committed data, as dicts::

        rows = await model.fetch_all("SELECT * FROM products WHERE stock < :n", {"n": 5})
        """
        return await self._backend.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row of a query as a dict, or None."""
        return await self._backend.fetch_one(sql, params)

    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        return await self._backend.fetch_value(sql, params)

    def snapshot(self) -> AbstractAsyncContextManager[ReadSnapshot]:
        """Read several queries from one committed state::

        async with model.snapshot() as db:
            page = await db.fetch_all("SELECT * FROM products LIMIT 10")
            total = await db.fetch_value("SELECT count(*) FROM products")

        A rebuild's swap lands entirely before the snapshot or after it.
        """
        return self._backend.snapshot()

    async def checkpoint(self, name: str) -> int:
        """The committed checkpoint of projection ``name`` (0 if it has none)."""
        return (await self._backend.checkpoints()).get(name, 0)

    async def checkpoints(self) -> dict[str, int]:
        """Every projection's committed checkpoint in this read model."""
        return await self._backend.checkpoints()

    async def store_id(self, name: str) -> str | None:
        """The id of the event store projection ``name``'s checkpoint belongs to
        (None when it has recorded none)."""
        return (await self._backend.store_ids()).get(name)

    async def exists(self) -> bool:
        """Whether the read model has been created (reading never creates it)::

        if not await model.exists():
            print("no read model yet: run the App once")
        """
        return await self._backend.exists()

    # -- writing ------------------------------------------------------------------------
    @asynccontextmanager
    async def unit_of_work(
        self, name: str, *, swap_in: ReadModel | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """One transaction holding projection ``name``'s checkpoint; the block
        runs on the event loop::

            async with model.unit_of_work("ledger") as uow:
                uow.tx.execute("DELETE FROM balances WHERE balance = 0")
                uow.checkpoint = 42

        Leaving the block writes ``uow.checkpoint`` and commits; an exception
        (or a cancellation) rolls everything back. Units of work of one
        projection take turns, across processes too. Begin and commit run on
        the writer thread when they may wait (a lock, an fsync, the network),
        else here; the block's statements run where it runs.

        With ``swap_in=fresh`` (a model made by :meth:`create_fresh`), the
        transaction begins by replacing the projection's tables by ``fresh``'s
        and taking over its checkpoint: a rebuild's swap, committed at once.
        """
        backend = self._backend
        async with self._lock:
            begin = await self._beginning(name, swap_in)
            try:
                uow = backend.begin_at_once(name) if swap_in is None else None
                if uow is None:
                    uow = await self._writer.run(begin)
                yield uow
                if backend.commits_at_once:
                    backend.commit(uow, name)
                else:
                    await self._writer.run(backend.commit, uow, name)
            except BaseException:
                await self._writer.run(backend.rollback)
                raise

    async def run_unit_of_work(
        self, name: str, work: Callable[[UnitOfWork], R], *, swap_in: ReadModel | None = None
    ) -> R:
        """Run the blocking ``work(uow)`` in one unit of work on the writer thread
        (one thread hop for all of it); return its result.

        A cancellation asks the work to stop (``uow.cancelled`` becomes True,
        and a running statement is interrupted where the backend can); what it
        did is then rolled back. ``swap_in`` is as for :meth:`unit_of_work`.
        """
        async with self._lock:
            run = _Run(self._backend, await self._beginning(name, swap_in), work, name)
            return await self._writer.run(run, on_cancel=run.cancel)

    async def _beginning(self, name: str, swap_in: ReadModel | None) -> Callable[[], UnitOfWork]:
        """What begins the unit of work (on the writer thread)."""
        if swap_in is None:
            return partial(self._backend.begin, name)
        if not isinstance(swap_in, ReadModel):
            raise TypeError(f"swap_in takes the ReadModel made by create_fresh, not {swap_in!r}")
        if not isinstance(self._backend, type(swap_in.backend)):  # memory:// is a SQLite file
            raise TypeError(
                f"{self!r} swaps in another read model of its backend (made by "
                f"create_fresh), not {swap_in!r}"
            )
        checkpoint = await swap_in.checkpoint(name)
        await swap_in.close()
        return partial(self._backend.begin_swap, swap_in.backend, name, checkpoint)

    # -- rebuilding ---------------------------------------------------------------------
    async def create_fresh(self, name: str) -> ReadModel:
        """An empty read model beside this one, to rebuild projection ``name`` into
        (a SQLite file next to this one, or a PostgreSQL schema next to this
        one); swap it in with ``unit_of_work(name, swap_in=fresh)``, then
        :meth:`discard` it."""
        return ReadModel(await self._backend.create_fresh(name))

    async def discard(self) -> None:
        """Close and delete a model made by :meth:`create_fresh` (a live model
        refuses with :class:`~eventflux.ConfigurationError`)."""
        self._writer.close()
        await self._backend.discard()

    async def close(self) -> None:
        """Release the model's connections and its writer thread."""
        self._writer.close()
        await self._backend.close()
