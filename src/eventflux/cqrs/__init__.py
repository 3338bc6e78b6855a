"""CQRS: commands change state through a command bus, queries read read models
through a query bus, and projections keep the read models up to date from the
event store (checkpointed in the same transaction, rebuildable beside the
live model and swapped in atomically).

Read models are chosen by URL, ``open_read_model("sqlite:///read.db")`` or
``open_read_model("postgresql://app@db/shop?schema=read")``; the same
projection class and the same queries run on both.

Example::

    from eventflux.cqrs import CommandBus, QueryBus, Projection, open_read_model

    commands = CommandBus(middleware=[logging_middleware(), validation_middleware()])

    @commands.handler(AddProduct)
    async def add(command: AddProduct) -> None: ...

    await commands.dispatch(AddProduct("mug", "Mug", 900), metadata={"user": "ann"})
"""

from __future__ import annotations

from ..exceptions import (
    CqrsError,
    HandlerAlreadyRegisteredError,
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
from .readmodel import (
    ReadModel,
    ReadModelBackend,
    ReadSnapshot,
    Transaction,
    UnitOfWork,
    open_read_model,
    read_model_url,
)

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
    "Projection",
    "ProjectionError",
    "ProjectionStatus",
    "QueryBus",
    "ReadModel",
    "ReadModelBackend",
    "ReadSnapshot",
    "Transaction",
    "UnitOfWork",
    "UnknownProjectionError",
    "ValidationError",
    "authorization_middleware",
    "handles",
    "logging_middleware",
    "open_read_model",
    "read_model_url",
    "validation_middleware",
]
