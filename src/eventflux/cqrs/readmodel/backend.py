"""The read-model port: the public interface every read-model backend implements.

A read model is a database that projections keep tables in, for queries to
read. Projections and queries call the facade,
:class:`~eventflux.cqrs.ReadModel`; the facade holds one backend object, which
implements :class:`ReadModelBackend` and nothing else. The facade does the
shared work once: the writer thread, one unit of work at a time, cancellation,
the choice of the backend by URL.

The two sides of a backend:

- **Writing is blocking.** :meth:`ReadModelBackend.begin` opens a transaction
  on the backend's writer connection that holds a projection's checkpoint,
  :meth:`~ReadModelBackend.commit` writes the new checkpoint with the
  handlers' writes, :meth:`~ReadModelBackend.rollback` drops both. The facade
  calls them on its writer thread, one unit of work at a time; the handlers
  write through the unit of work's :class:`Transaction`, whose methods are
  plain calls too (on the writer thread for plain handlers, on the event loop
  for ``async def`` ones).
- **Reading is asynchronous.** Queries, snapshots and checkpoints are
  coroutines on the event loop, on connections of their own, and see only
  committed data.

SQL is portable between backends when it uses **named placeholders**
``:name`` with a mapping of parameters: every backend takes that style (SQLite
natively; PostgreSQL translates it for its driver). Parameters given as a
sequence are refused on every backend, so a projection that runs on one runs
on the others::

    tx.execute("UPDATE products SET stock = stock + :delta WHERE sku = :sku",
               {"delta": -2, "sku": "mug"})

Example of a backend (the shape; see ``eventflux.cqrs.readmodel.sqlite``)::

    class MyBackend(ReadModelBackend):
        @classmethod
        def from_url(cls, url, options, **settings): ...
        def begin(self, name): ...                 # -> UnitOfWork(tx, checkpoint, is_new)
        def commit(self, uow, name): ...
        ...
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult

__all__ = [
    "CHECKPOINTS_TABLE",
    "Params",
    "ReadModelBackend",
    "ReadSnapshot",
    "Row",
    "Transaction",
    "UnitOfWork",
    "named_params",
]

#: Query parameters: a mapping from the ``:name`` placeholders' names to values.
Params = Mapping[str, Any]
#: A row of a query, by column name.
Row = dict[str, Any]
#: The table (in the read model's own file or schema) holding every projection's checkpoint.
CHECKPOINTS_TABLE: Final = "eventflux_checkpoints"


def named_params(params: object) -> Params:
    """Return ``params`` if it is a mapping, else raise TypeError: read models take
    ``:name`` placeholders with a mapping of values, the one style every backend
    understands.

    ``named_params({"sku": "mug"})`` returns the dict; ``named_params(("mug",))``
    raises.
    """
    if isinstance(params, Mapping):
        return params
    raise TypeError(
        f"read-model parameters are a mapping for :name placeholders (the one style "
        f"every read model takes), not {type(params).__name__}; write "
        "tx.execute('... WHERE sku = :sku', {'sku': sku})"
    )


class Transaction(abc.ABC):
    """What projection handlers write through: the open transaction of one unit of work.

    Its methods are plain calls, the same in plain and ``async def`` handlers
    and on every backend. There is no commit: the unit of work commits the
    handlers' writes together with the projection's checkpoint. Rows come back
    as dicts; values as the database driver gives them.

    Example::

        @handles
        def added(self, event: ProductAdded, tx: Transaction) -> None:
            tx.execute("INSERT INTO products VALUES (:sku, :name)",
                       {"sku": event.sku, "name": event.name})
    """

    __slots__ = ()

    @abc.abstractmethod
    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; return how many rows it changed (-1 when that does
        not apply, e.g. for DDL)."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        """Run one statement once per parameter mapping; return the rows changed."""

    @abc.abstractmethod
    def script(self, sql: str) -> None:
        """Run several statements separated by ``;`` (a schema, say), inside the
        transaction. Scripts take no parameters."""

    @abc.abstractmethod
    def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row of a query, as dicts (the transaction's own writes included)."""

    @abc.abstractmethod
    def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row of a query as a dict, or None."""

    @abc.abstractmethod
    def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""


class ReadSnapshot(abc.ABC):
    """Reads of one committed state of a read model: several queries that agree.

    Example::

        async with catalog.model.snapshot() as db:
            page = await db.fetch_all("SELECT * FROM products LIMIT 10")
            total = await db.fetch_value("SELECT count(*) FROM products")
    """

    __slots__ = ()

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row of a query, as dicts."""

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row of a query as a dict, or None."""

    @abc.abstractmethod
    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""


@dataclass(slots=True)
class UnitOfWork:
    """One transaction on a read model for one projection.

    ``tx`` is what handlers write through. ``checkpoint`` is the position
    stored when the transaction began; the projection advances it event by
    event, and :meth:`ReadModelBackend.commit` stores it. ``store_id`` is the
    id of the event store the checkpoint's positions belong to (None before a
    projection recorded one); the projection sets it, and ``commit`` stores it
    with the checkpoint. ``is_new`` is True when the projection had no
    checkpoint yet (its tables must be created).
    ``cancelled`` is set by the facade when the task waiting for this unit of
    work is cancelled: the projection then stops between two events and the
    whole unit of work rolls back.
    """

    tx: Transaction
    checkpoint: int
    is_new: bool = False
    cancelled: bool = False
    store_id: str | None = None


class ReadModelBackend(abc.ABC):
    """One read-model database as the facade uses it: blocking writes, async reads.

    Writing (``begin``, ``begin_swap``, ``commit``, ``rollback``) is called by
    the facade on its writer thread, never two calls at once; a backend may
    block there (waiting for a lock, an fsync, the network). Everything else
    is a coroutine on the event loop, or, for ``interrupt``, safe to call from
    any thread.
    """

    @classmethod
    @abc.abstractmethod
    def from_url(
        cls, url: SplitResult, options: dict[str, str], **settings: Any
    ) -> ReadModelBackend:
        """Build the backend for a parsed URL. Pop the URL options it knows
        (refusing the others, or passing them to its driver); ``settings`` are
        the keyword arguments given to :func:`~eventflux.cqrs.open_read_model`.
        Opens no connection: they open on first use."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The URL of this read model, without secrets (for messages and ``repr``)."""

    # -- writing (the facade's writer thread) -----------------------------------------
    @abc.abstractmethod
    def begin(self, name: str) -> UnitOfWork:
        """Begin a transaction that holds projection ``name``'s checkpoint.

        The checkpoint row is locked for the transaction, across processes
        (SQLite's write lock, PostgreSQL's row lock), so units of work of one
        projection take turns. Raises :class:`~eventflux.StoreBusyError` when
        the wait is too long, :class:`~eventflux.StoreUnavailableError` when
        the database fails.
        """

    @abc.abstractmethod
    def begin_swap(self, fresh: ReadModelBackend, name: str, checkpoint: int) -> UnitOfWork:
        """Begin the transaction of a rebuild's swap: replace projection ``name``'s
        tables in this (live) model by those of ``fresh`` (closed by the facade
        before) and take over ``checkpoint``, ``fresh``'s checkpoint. The
        events that arrived since are applied through the returned unit of
        work; committing it commits the whole swap. A ``fresh`` of another
        backend is a TypeError."""

    @abc.abstractmethod
    def commit(self, uow: UnitOfWork, name: str) -> None:
        """Store ``uow.checkpoint`` (and ``uow.store_id``) as ``name``'s checkpoint
        and commit."""

    def begin_at_once(self, name: str) -> UnitOfWork | None:
        """Like :meth:`begin`, on the calling thread (the event loop), if that does
        not wait: no lock held by another writer, no network round trip. Else
        None, and the facade begins on its writer thread. The default is None.

        A unit of work whose handlers run on the event loop then takes no
        thread hop to begin (SQLite's ``BEGIN IMMEDIATE`` on a free file).
        """
        return None

    @property
    def commits_at_once(self) -> bool:
        """True if :meth:`commit` never waits (no fsync, no network): the facade
        then commits on the event loop, without a thread hop. Default False."""
        return False

    @abc.abstractmethod
    def rollback(self) -> None:
        """Roll back the open transaction, if any. Never raises for a failed
        connection: it closes it instead, and the next ``begin`` opens another."""

    @abc.abstractmethod
    def interrupt(self) -> None:
        """Ask the statement running on the writer connection to stop (a
        cancellation), from any thread, or do nothing: the projection stops
        between two events anyway, and a backend whose statements are short
        may leave them be."""

    # -- rebuilding -----------------------------------------------------------------
    @abc.abstractmethod
    async def create_fresh(self, name: str) -> ReadModelBackend:
        """An empty model beside this one to rebuild projection ``name`` into
        (a leftover of a crashed rebuild is removed first)."""

    @abc.abstractmethod
    async def discard(self) -> None:
        """Close and delete a model made by :meth:`create_fresh`; a live model
        refuses with :class:`~eventflux.ConfigurationError`."""

    # -- reading (the event loop) ----------------------------------------------------
    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Params | None = None) -> list[Row]:
        """Every row of a query on committed data, as dicts."""

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Params | None = None) -> Row | None:
        """The first row of a query on committed data, or None."""

    @abc.abstractmethod
    async def fetch_value(self, sql: str, params: Params | None = None) -> Any:
        """The first column of the first row of a query, or None."""

    @abc.abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[ReadSnapshot]:
        """Reads of one committed state; a rebuild's swap is entirely before or
        after it."""

    @abc.abstractmethod
    async def checkpoints(self) -> dict[str, int]:
        """Every projection's committed checkpoint ({} before the first unit of work)."""

    async def store_ids(self) -> dict[str, str]:
        """The event store id recorded with each projection's checkpoint (only the
        projections that have one). A backend that keeps no store ids returns
        {} (the default): its projections then cannot tell one store from
        another. Reading never creates the read model."""
        return {}

    async def exists(self) -> bool:
        """Whether the read model has been created (its file or schema holds the
        checkpoints table). Never creates it. The default says True."""
        return True

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection (the facade has let the writer thread go idle)."""
