"""API tokens: scopes, the token stores, and where a setup keeps its tokens.

``eventflux token create|list|revoke`` and ``eventflux serve`` find the tokens
of a setup from its store URL (:func:`token_url_for`): a ``tokens.db`` file
beside a SQLite store's file, a table in a PostgreSQL store's database, and
``.eventflux/tokens.db`` for a memory store.

Example::

    tokens = await open_token_store(token_url_for("sqlite:///.eventflux/store.db"))
    token, info = await tokens.create(Scope.WRITE, prefix="orders-")
"""

from __future__ import annotations

import os

from ..._internal.urls import parse_url, sqlite_path
from ...exceptions import ConfigurationError
from ..settings import DEFAULT_FOLDER
from .base import TokenStore
from .memory import MemoryTokenStore
from .model import Scope, TokenInfo, TokenRecord, split_token
from .postgres import PostgresTokenStore
from .sqlite import SQLiteTokenStore

__all__ = [
    "MemoryTokenStore",
    "PostgresTokenStore",
    "SQLiteTokenStore",
    "Scope",
    "TokenInfo",
    "TokenRecord",
    "TokenStore",
    "open_token_store",
    "split_token",
    "token_url_for",
]


def token_url_for(store_url: str) -> str:
    """Where the tokens of the setup whose event store is ``store_url`` live."""
    parts, _ = parse_url(store_url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        folder = os.path.dirname(sqlite_path(parts))
        path = os.path.join(folder, "tokens.db") if folder else "tokens.db"
        return "sqlite:///" + path  # an absolute path gives the four-slash form
    if scheme in ("postgresql", "postgres"):
        return store_url
    return f"sqlite:///{DEFAULT_FOLDER}/tokens.db"


async def open_token_store(url: str) -> TokenStore:
    """Open the token store named by ``url`` (``sqlite:///path``,
    ``postgresql://...`` or ``memory://``)."""
    parts, _ = parse_url(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return await SQLiteTokenStore.open(sqlite_path(parts))
    if scheme in ("postgresql", "postgres"):
        return await PostgresTokenStore.open(url)
    if scheme == "memory":
        return MemoryTokenStore()
    raise ConfigurationError(
        f"unknown token store URL {url!r}; use sqlite:///path.db, postgresql://... or memory://"
    )
