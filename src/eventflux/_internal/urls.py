"""Store, bus and read-model URLs: parsing, options, the SQLite path rule and
the lookup of a backend by scheme. One set of rules, one error type
(:class:`~eventflux.ConfigurationError`) for every port.

SQLite URLs follow SQLAlchemy's convention: ``sqlite:///events.db`` is
relative to the working folder, ``sqlite:////var/lib/app/events.db`` (four
slashes) is absolute; the path is percent-decoded.

Example::

    parts, options = parse_url("sqlite:///bus.db?dedup_window=60")
    window = float_option(options, "dedup_window", 120.0)
    reject_unknown_options(options, "sqlite")
    path = sqlite_path(parts)            # "bus.db"
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from ..exceptions import ArgumentTypeError, ConfigurationError, MissingExtraError

__all__ = [
    "Backends",
    "choice_option",
    "float_option",
    "int_option",
    "parse_url",
    "reject_unknown_options",
    "resolve_backend",
    "sqlite_path",
]

#: scheme -> (module, class, extra needed, driver module that extra provides)
Backends = dict[str, tuple[str, str, str | None, str | None]]


def parse_url(url: object) -> tuple[SplitResult, dict[str, str]]:
    """Split a store, bus or read-model URL into its parts and its query options."""
    if not isinstance(url, str):
        raise ArgumentTypeError(f"the URL must be a str, not {type(url).__name__}")
    parts = urlsplit(url)
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in options:
            raise ConfigurationError(f"option {key!r} is given twice in {url!r}")
        options[key] = value
    return parts, options


def int_option(
    options: dict[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 1,
    maximum: int = 2**63 - 1,
) -> int:
    """Pop an int option from a URL's options (``minimum`` to ``maximum``), with a
    clear error."""
    raw = options.pop(name, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"URL option {name}={raw!r} must be an integer") from None
    if value < minimum:
        raise ConfigurationError(f"URL option {name}={value} must be >= {minimum}")
    if value > maximum:
        raise ConfigurationError(f"URL option {name}={value} must be <= {maximum}")
    return value


def float_option(options: dict[str, str], name: str, default: float) -> float:
    """Pop a positive, finite float option from a URL's options, with a clear error."""
    raw = options.pop(name, None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"URL option {name}={raw!r} must be a number") from None
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"URL option {name}={raw!r} must be positive and finite")
    return value


def choice_option(
    options: dict[str, str], name: str, default: str, allowed: tuple[str, ...]
) -> str:
    """Pop an option that must be one of ``allowed`` (case-insensitive)."""
    value = options.pop(name, default).lower()
    if value not in allowed:
        raise ConfigurationError(f"URL option {name}={value!r} must be one of {', '.join(allowed)}")
    return value


def reject_unknown_options(options: dict[str, str], scheme: str) -> None:
    """Raise ConfigurationError naming every option nobody popped."""
    if options:
        raise ConfigurationError(
            f"unknown option(s) for {scheme}:// URLs: {', '.join(sorted(options))}"
        )


def sqlite_path(url: str | SplitResult) -> str:
    """The database path of a ``sqlite://`` URL (a str or already split).

    ``sqlite:///events.db`` is relative to the working folder and
    ``sqlite:////var/lib/app/events.db`` (four slashes) is absolute. In-memory
    databases are refused: the store's, bus's and read model's connections
    could not share one.
    """
    parts = urlsplit(url) if isinstance(url, str) else url
    shown = url if isinstance(url, str) else parts.geturl()
    if parts.scheme.lower() != "sqlite":
        raise ConfigurationError(
            f"expected a sqlite:///path.db URL, got {shown!r}"
            + (" (a bare path: write sqlite:///" + shown + ")" if not parts.scheme else "")
        )
    if parts.netloc:
        raise ConfigurationError(
            f"sqlite:// URLs have no host (got {parts.netloc!r}); write sqlite:///relative.db "
            "or sqlite:////absolute/path.db"
        )
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    if not path:
        raise ConfigurationError(
            "a sqlite:// URL needs a file path: sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    if path == ":memory:" or path.startswith("file::memory:"):
        raise ConfigurationError(
            "an in-memory SQLite database cannot be shared by several connections; "
            "use memory:// for a store or bus in memory, or give a file path"
        )
    return path


def resolve_backend(
    url: str, backends: Backends, what: str
) -> tuple[Any, SplitResult, dict[str, str]]:
    """Find the backend class for ``url`` in ``backends``; return it with the
    parsed URL and its options.

    Raises ConfigurationError for an unknown scheme (listing the known ones),
    MissingExtraError when the backend's driver is not installed.
    """
    parts, options = parse_url(url)
    scheme = parts.scheme.lower()
    spec = backends.get(scheme)
    if spec is None:
        known = ", ".join(f"{s}://" for s in sorted(backends))
        hint = ""
        if not parts.scheme:
            hint = f"; a file path is written as a URL, e.g. sqlite:///{url}"
        raise ConfigurationError(
            f"unknown {what} URL scheme {parts.scheme + '://' if parts.scheme else url!r}; "
            f"known schemes: {known}{hint}"
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
