"""Named projections, so the command line and other processes can find them.

A module registers a factory that, given the event store's URL, returns the
projection bound to its read model (typically one beside the event store: a
file next to a SQLite store, a schema in a PostgreSQL store's database; see
:func:`~eventflux.cqrs.read_model_url`). Importing the module registers it::

    register_projection("shop-catalog", lambda store_url: Catalog(
        open_read_model(read_model_url(store_url, "shop-read"))))

The registry itself knows no read-model backend: the factory picks one.

``eventflux projections ...`` imports the demo modules and every module given
with ``--app`` (or ``$EVENTFLUX_APP``, comma separated) before looking names up.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..codec import Codec
from ..exceptions import ConfigurationError, UnknownProjectionError
from .projections import Projection

__all__ = [
    "DEFAULT_APP_MODULES",
    "ProjectionEntry",
    "ProjectionFactory",
    "get_projection",
    "load_apps",
    "projection_entry",
    "register_projection",
    "registered_projections",
]

#: store URL -> the projection, bound to its read model
ProjectionFactory = Callable[[str], Projection]
#: modules whose projections are always available to the command line
DEFAULT_APP_MODULES = ("eventflux.demos.bank", "eventflux.demos.shop")


@dataclass(frozen=True, slots=True)
class ProjectionEntry:
    """A registered projection: its name, factory, a one-line description, and the
    codec its event store must be opened with (None: the default codec)."""

    name: str
    factory: ProjectionFactory
    description: str = ""
    codec: Codec | None = None


_registry: dict[str, ProjectionEntry] = {}


def register_projection(
    name: str, factory: ProjectionFactory, *, description: str = "", codec: Codec | None = None
) -> ProjectionFactory:
    """Register ``factory`` under ``name``; returns the factory.

    ``codec`` is the codec the event store must be opened with to decode the
    events the projection handles (default: :data:`~eventflux.default_codec`).

    Registering the same factory again is harmless; another one under a taken
    name raises :class:`~eventflux.ConfigurationError`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("a projection name must be a non-empty str")
    old = _registry.get(name)
    if old is not None:
        if old.factory is not factory:
            raise ConfigurationError(f"a projection named {name!r} is already registered")
        return factory
    _registry[name] = ProjectionEntry(name, factory, description, codec)
    return factory


def registered_projections() -> dict[str, ProjectionEntry]:
    """The registered projections by name, sorted."""
    return dict(sorted(_registry.items()))


def get_projection(name: str, store_url: str) -> Projection:
    """Build the projection registered as ``name`` for the store at ``store_url``."""
    return projection_entry(name).factory(store_url)


def projection_entry(name: str) -> ProjectionEntry:
    """The registry entry of ``name`` (:class:`UnknownProjectionError` if none)."""
    entry = _registry.get(name)
    if entry is None:
        known = ", ".join(sorted(_registry)) or "none"
        raise UnknownProjectionError(
            f"no projection named {name!r} (registered: {known}); "
            "load the module that registers it with --app module"
        )
    return entry


def load_apps(modules: Iterable[str] = (), *, defaults: bool = True) -> None:
    """Import the modules that register projections (plus the demos' by default,
    and those named in ``$EVENTFLUX_APP``)."""
    for module in DEFAULT_APP_MODULES if defaults else ():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:  # a trimmed install without the demos
            if e.name != module:
                raise
    names = [*modules]
    names += [m.strip() for m in os.environ.get("EVENTFLUX_APP", "").split(",") if m.strip()]
    for module in names:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigurationError(f"cannot import the app module {module!r}: {e}") from e
