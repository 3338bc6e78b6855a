"""A projection's read-model URL, derived from the event store's URL.

A registered projection is built from the store URL alone (``eventflux
projections run NAME --store URL``), so it needs a read model that follows the
store wherever it is: a file next to a SQLite store's file, a schema in a
PostgreSQL store's database.

Example::

    read_model_url("sqlite:///data/shop-events.db", "shop-read")
    # "sqlite:///data/shop-read.db"
    read_model_url("postgresql://app@db/shop?schema=events", "shop-read")
    # "postgresql://app@db/shop?schema=shop_read"
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlunsplit

from ..._internal.urls import parse_url, sqlite_path
from ...exceptions import ConfigurationError

__all__ = ["read_model_url"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,50}")


def read_model_url(store_url: str, name: str) -> str:
    """The URL of read model ``name`` beside the event store at ``store_url``.

    - ``sqlite://`` store: the file ``<name>.db`` in the store's folder;
    - ``postgresql://`` store: the schema ``<name>`` (``-`` becomes ``_``) in
      the store's database, with the store's host, port, user and database but
      none of its options (open your own URL for more);
    - ``memory://`` store: ``memory://``, a read model as short-lived as the
      store (a fresh one in a temporary file, removed when it closes).

    ``name`` is letters, digits, ``-`` and ``_``, starting with a letter.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"read model name {name!r} must be letters, digits, '-' and '_', "
            "starting with a letter (at most 51 characters)"
        )
    parts, _ = parse_url(store_url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = Path(sqlite_path(parts)).with_name(f"{name}.db")
        return "sqlite:///" + quote(str(path))
    if scheme in ("postgresql", "postgres"):
        schema = name.replace("-", "_")
        return urlunsplit(("postgresql", parts.netloc, parts.path, f"schema={schema}", ""))
    if scheme == "memory":
        return "memory://"
    raise ConfigurationError(
        f"cannot place a read model beside a {scheme}:// event store; "
        "open one with its own URL (sqlite:///read.db, postgresql://.../db?schema=read)"
    )
