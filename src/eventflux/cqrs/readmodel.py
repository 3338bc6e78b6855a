"""The read-model port: where projections write, one unit of work at a time.

A projection never commits by itself. It asks its read model for a
:class:`UnitOfWork`: one database transaction that starts by reading (and
locking) the projection's checkpoint and ends by writing the new checkpoint
together with the handlers' writes. Either both are committed or neither, so
an event changes the read model exactly once, even when the process dies in
the middle (the next run starts from the committed checkpoint).

A read model also supports rebuilds: :meth:`ReadModel.create_fresh` makes an
empty model beside the live one, the projection replays every event into it,
and :meth:`ReadModel.swap_in` replaces the projection's tables in the live
model in one transaction, in which the projection also applies the events
that arrived meanwhile. Readers see the old model until that commit and the
new one after it; never an empty or half-built one.

Backends:

- :class:`~eventflux.cqrs.SQLiteReadModel` (implemented): a SQLite file; the
  handlers get a :class:`~eventflux.cqrs.SQLiteTransaction`; the swap copies
  the tables of the fresh file (ATTACHed) into the live one in one
  transaction.
- :class:`~eventflux.cqrs.PostgresReadModel` (implemented): a PostgreSQL
  schema; the unit of work is one transaction that begins by locking the
  projection's checkpoint row (``SELECT ... FOR UPDATE``: the row lock
  serializes the runners of one projection across processes), the handlers
  are ``async def`` and get a :class:`~eventflux.cqrs.PostgresTransaction`
  (``await tx.execute(...)``), ``create_fresh`` makes a scratch schema
  ``<schema>_rebuild_<name>``, and ``swap_in`` moves the rebuilt tables with
  ``ALTER ... SET SCHEMA`` inside one transaction (PostgreSQL DDL is
  transactional: readers wait for the short lock, then see the new tables).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

__all__ = ["ReadModel", "UnitOfWork"]

T = TypeVar("T")
R = TypeVar("R")
CHECKPOINTS_TABLE = "eventflux_checkpoints"


@dataclass(slots=True)
class UnitOfWork(Generic[T]):
    """One transaction on a read model for one projection.

    ``tx`` is what handlers write through (backend specific). ``checkpoint``
    is the position stored when the transaction began; the projection runner
    advances it, and it is written when the transaction commits. ``is_new``
    is True when the projection has no checkpoint yet (its tables must be
    created).
    """

    tx: T
    checkpoint: int
    is_new: bool = False


class ReadModel(abc.ABC, Generic[T]):
    """A store for read models with checkpoints kept in the same transactions."""

    #: True when the handlers must be coroutine functions (the transaction's
    #: methods are coroutines); a projection checks it when it is constructed.
    async_handlers_only: ClassVar[bool] = False

    @abc.abstractmethod
    async def checkpoint(self, name: str) -> int:
        """The committed checkpoint of projection ``name`` (0 if it has none)."""

    @abc.abstractmethod
    def unit_of_work(self, name: str) -> AbstractAsyncContextManager[UnitOfWork[T]]:
        """Begin a transaction that holds ``name``'s checkpoint.

        Leaving the block normally writes the checkpoint and commits; leaving
        it with an exception (or a cancellation) rolls everything back.
        Units of work of one projection are serialized, across processes too.
        """

    async def run_unit_of_work(self, name: str, work: Callable[[UnitOfWork[T]], R]) -> R:
        """Run the synchronous ``work(uow)`` in one unit of work; return its result.

        A backend may run it on a worker thread (SQLite does: one thread hop
        per batch instead of one per statement); the default runs it here.
        """
        async with self.unit_of_work(name) as uow:
            return work(uow)

    @abc.abstractmethod
    async def create_fresh(self, name: str) -> ReadModel[T]:
        """An empty read model beside this one, to rebuild projection ``name`` into."""

    @abc.abstractmethod
    def swap_in(self, fresh: ReadModel[T], name: str) -> AbstractAsyncContextManager[UnitOfWork[T]]:
        """Begin one transaction on this (live) model that replaces projection
        ``name``'s tables by those of ``fresh`` and takes over its checkpoint.

        The block applies the events that arrived since (through the yielded
        unit of work); leaving it commits the whole swap at once.
        """

    @abc.abstractmethod
    async def discard(self) -> None:
        """Close and delete this model (a fresh one after a swap or a failure)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the model's connections."""
