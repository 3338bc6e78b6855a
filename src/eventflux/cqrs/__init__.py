"""CQRS: commands change state through a command bus, queries read read models
through a query bus, and projections keep the read models up to date from the
event store (checkpointed in the same transaction, rebuildable beside the
live model and swapped in atomically).

Example::

    from eventflux.cqrs import CommandBus, QueryBus, Projection, SQLiteReadModel

    commands = CommandBus(middleware=[logging_middleware(), validation_middleware()])

    @commands.handler(AddProduct)
    async def add(command: AddProduct) -> None: ...

    await commands.dispatch(AddProduct("mug", "Mug", 900), metadata={"user": "ann"})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import (
    CqrsError,
    HandlerAlreadyRegisteredError,
    MissingExtraError,
    NoHandlerError,
    NotAuthorizedError,
    ProjectionError,
    UnknownProjectionError,
    ValidationError,
)
from .commands import CommandBus
from .dispatcher import Dispatcher, DispatchHandler, Middleware, Next
from .middleware import authorization_middleware, logging_middleware, validation_middleware
from .projections import Projection, ProjectionStatus, handles
from .queries import QueryBus
from .readmodel import ReadModel, UnitOfWork
from .registry import (
    ProjectionEntry,
    ProjectionFactory,
    beside,
    get_projection,
    load_apps,
    projection_entry,
    register_projection,
    registered_projections,
)
from .runner import run_projection
from .sqlite import SQLiteReadModel, SQLiteTransaction

if TYPE_CHECKING:
    from .postgres import PostgresReadModel, PostgresTransaction

_POSTGRES = ("PostgresReadModel", "PostgresTransaction")


def __getattr__(name: str) -> object:
    # the PostgreSQL read model loads the psycopg driver only when it is asked for
    if name in _POSTGRES:
        try:
            from . import postgres
        except ImportError as e:
            if not (e.name or "").startswith("psycopg"):
                raise
            raise MissingExtraError("the PostgreSQL read model", "postgres", "psycopg") from e
        return getattr(postgres, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CommandBus",
    "CqrsError",
    "DispatchHandler",
    "Dispatcher",
    "HandlerAlreadyRegisteredError",
    "Middleware",
    "Next",
    "NoHandlerError",
    "NotAuthorizedError",
    "PostgresReadModel",
    "PostgresTransaction",
    "Projection",
    "ProjectionEntry",
    "ProjectionError",
    "ProjectionFactory",
    "ProjectionStatus",
    "QueryBus",
    "ReadModel",
    "SQLiteReadModel",
    "SQLiteTransaction",
    "UnitOfWork",
    "UnknownProjectionError",
    "ValidationError",
    "authorization_middleware",
    "beside",
    "get_projection",
    "handles",
    "load_apps",
    "logging_middleware",
    "projection_entry",
    "register_projection",
    "registered_projections",
    "run_projection",
    "validation_middleware",
]
