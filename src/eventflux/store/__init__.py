"""Event store: the port and ``open_store(url)``, which picks a backend by URL scheme.

Schemes: ``memory://`` (a fresh in-process store each call),
``sqlite:///relative.db`` / ``sqlite:////absolute.db`` (embedded, durable) and
``postgresql://user@host/db`` (the ``postgres`` extra). Options go in the query
string, e.g. ``sqlite:///events.db?durability=normal&max_event_bytes=65536``.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from ..codec import Codec
from ..exceptions import ConfigurationError, MissingExtraError
from .base import (
    ANY,
    NO_STREAM,
    STREAM_EXISTS,
    EventStore,
    ExpectedVersion,
    Snapshot,
    StreamLimits,
)

__all__ = [
    "ANY",
    "EventStore",
    "ExpectedVersion",
    "NO_STREAM",
    "STREAM_EXISTS",
    "Snapshot",
    "StreamLimits",
    "open_store",
    "parse_url",
    "resolve_backend",
]

# scheme -> (module, class, extra needed, driver module that extra provides)
_BACKENDS: dict[str, tuple[str, str, str | None, str | None]] = {
    "memory": ("eventflux.store.memory", "MemoryEventStore", None, None),
    "sqlite": ("eventflux.store.sqlite", "SQLiteEventStore", None, None),
    "postgresql": ("eventflux.store.postgres", "PostgresEventStore", "postgres", "psycopg"),
    "postgres": ("eventflux.store.postgres", "PostgresEventStore", "postgres", "psycopg"),
}


def parse_url(url: str) -> tuple[SplitResult, dict[str, str]]:
    """Split a store or bus URL into its parts and its query options."""
    if not isinstance(url, str):
        raise TypeError(f"the URL must be a str, not {type(url).__name__}")
    parts = urlsplit(url)
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in options:
            raise ConfigurationError(f"option {key!r} is given twice in {url!r}")
        options[key] = value
    return parts, options


def int_option(options: dict[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    """Pop an int option from a URL's options, with a clear error."""
    raw = options.pop(name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"URL option {name}={raw!r} must be an integer") from None
    if value < minimum:
        raise ConfigurationError(f"URL option {name}={value} must be >= {minimum}")
    return value


def float_option(options: dict[str, str], name: str, default: float) -> float:
    """Pop a positive float option from a URL's options, with a clear error."""
    raw = options.pop(name, None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"URL option {name}={raw!r} must be a number") from None
    if not value > 0:
        raise ConfigurationError(f"URL option {name}={raw!r} must be positive")
    return value


def reject_unknown_options(options: dict[str, str], scheme: str) -> None:
    if options:
        raise ConfigurationError(
            f"unknown option(s) for {scheme}:// URLs: {', '.join(sorted(options))}"
        )


Backends = dict[str, tuple[str, str, str | None, str | None]]


def resolve_backend(
    url: str, backends: Backends, what: str
) -> tuple[Any, SplitResult, dict[str, str]]:
    """Find the backend class for ``url`` in ``backends`` (scheme -> module, class,
    extra, driver); returns it with the parsed URL and its options.

    Raises ConfigurationError for an unknown scheme (listing the known ones),
    MissingExtraError when the backend's driver is not installed.
    """
    parts, options = parse_url(url)
    scheme = parts.scheme.lower()
    spec = backends.get(scheme)
    if spec is None:
        known = ", ".join(f"{s}://" for s in sorted(backends))
        raise ConfigurationError(
            f"unknown {what} URL scheme {parts.scheme + '://' if parts.scheme else url!r}; "
            f"known schemes: {known}"
        )
    module_name, class_name, extra, driver = spec
    if driver is not None:
        try:
            importlib.import_module(driver)
        except ImportError as e:
            raise MissingExtraError(f"the {scheme}:// {what}", extra or "", driver) from e
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise ConfigurationError(
            f"the {scheme}:// {what} backend ({module_name}.{class_name}) is not "
            "available in this version of eventflux"
        ) from e
    return getattr(module, class_name), parts, options


async def open_store(url: str, *, codec: Codec | None = None, **settings: Any) -> EventStore:
    """Open the event store named by ``url``.

    Example::

        async with await open_store("sqlite:///bank.db") as store:
            ...
    """
    cls, parts, options = resolve_backend(url, _BACKENDS, "event store")
    store: EventStore = await cls._open(parts, options, codec=codec, **settings)
    return store
