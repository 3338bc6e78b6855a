"""Read models: where projections keep tables for queries, chosen by URL.

``open_read_model(url)`` returns a :class:`ReadModel` on the backend its
scheme names: ``sqlite:///read.db`` (a file; built in),
``postgresql://user@host/db?schema=read`` (a schema; the ``postgres``
extra) or ``memory://`` (a fresh model in a temporary file, gone when it
closes: the read model of a ``memory://`` store). Projections, queries and
their SQL (``:name`` placeholders with a mapping) are the same on all.

Example::

    model = open_read_model("sqlite:///shop-read.db")
    catalog = Catalog(model)             # a Projection
    await catalog.catch_up(store)
    rows = await model.fetch_all("SELECT * FROM products WHERE stock <= :n", {"n": 5})

The public backend interface, for writing another backend, is
:class:`ReadModelBackend` (in :mod:`.backend`).
"""

from __future__ import annotations

from typing import Any

from ..._internal.urls import Backends, resolve_backend
from ...exceptions import ConfigurationError
from .backend import (
    CHECKPOINTS_TABLE,
    Params,
    ReadModelBackend,
    ReadSnapshot,
    Row,
    Transaction,
    UnitOfWork,
)
from .facade import ReadModel
from .urls import read_model_url

__all__ = [
    "CHECKPOINTS_TABLE",
    "Params",
    "ReadModel",
    "ReadModelBackend",
    "ReadSnapshot",
    "Row",
    "Transaction",
    "UnitOfWork",
    "open_read_model",
    "read_model_url",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: Backends = {
    "memory": ("eventflux.cqrs.readmodel.sqlite", "TemporaryReadModelBackend", None, None),
    "sqlite": ("eventflux.cqrs.readmodel.sqlite", "SQLiteReadModelBackend", None, None),
    "postgresql": (
        "eventflux.cqrs.readmodel.postgres",
        "PostgresReadModelBackend",
        "postgres",
        "psycopg",
    ),
    "postgres": (
        "eventflux.cqrs.readmodel.postgres",
        "PostgresReadModelBackend",
        "postgres",
        "psycopg",
    ),
}


def open_read_model(url: str, **settings: Any) -> ReadModel:
    """The read model that ``url`` names; connections open on first use.

    Options go in the URL (``sqlite:///read.db?durability=full``,
    ``postgresql://app@db/shop?schema=read&lock_timeout=5``) or as keyword
    arguments (``open_read_model(url, durability="full")``), not both for
    one name. An unknown scheme is a :class:`~eventflux.ConfigurationError`;
    a backend whose driver is not installed a
    :class:`~eventflux.MissingExtraError` naming the pip extra.
    """
    cls, parts, options = resolve_backend(url, _BACKENDS, "read model")
    both = sorted(set(options) & set(settings))
    if both:
        raise ConfigurationError(
            f"{', '.join(both)} given both in the read model URL and as an argument"
        )
    backend: ReadModelBackend = cls.from_url(parts, options, **settings)
    return ReadModel(backend)
