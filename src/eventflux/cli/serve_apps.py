"""What ``eventflux serve`` serves: the Apps named on the command line, or the
demo Apps this installation has, found by module name when it starts (the
library never imports a demo; a demo that is not there is skipped).

Example::

    targets = demo_targets()                 # [Target(bank app, ...), Target(shop app, ...)]
    targets = app_targets(["myshop:app"])
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import typer

from ..app import App
from .worker import load_target

__all__ = ["DEMO_MODULES", "Target", "app_targets", "demo_targets"]

#: the demos ``eventflux serve`` serves with no argument, where they exist: each
#: module's ``app`` (an App), else its ``apps`` (a sequence of Apps), else every
#: App it defines at its top level; a ``seed`` module in the package (``async def
#: seed(app)``) gives the demo its first data, a ``web`` module's ``routes(app)``
#: (Starlette routes) is mounted under ``/demos/<name>`` for the App named as
#: the demo
DEMO_MODULES: Final = (
    "eventflux.demos.bank",
    "eventflux.demos.shop",
    "eventflux.demos.orders",
    "eventflux.demos.chat",
    "eventflux.demos.smarthome",
    "eventflux.demos.trading",
)


@dataclass(frozen=True, slots=True)
class Target:
    """An App to serve, the module that defines it (its pages' folder), its
    seed (demos: ``async def seed(app)``, its first data) and its own web
    routes (demos: ``web.routes(app)``)."""

    app: App
    module: str
    seed: Callable[[App], Awaitable[None]] | None = None
    routes: tuple[Any, ...] = ()


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its package is not there either
        return False


def demo_targets(modules: Sequence[str] = DEMO_MODULES) -> list[Target]:
    """The demo Apps of this installation: each module of ``modules`` that exists
    and offers ``app`` or ``apps``; the others are skipped (a demo still to
    come, or a module without an App). A demo that fails to import is an error."""
    found: list[Target] = []
    for module in modules:
        if not _exists(module):
            continue
        namespace = importlib.import_module(module)
        seed = _hook(module, "seed", "seed")
        routes_of = _hook(module, "web", "routes")
        name = module.rsplit(".", 1)[-1]
        for app in _apps_of(namespace):
            routes = tuple(routes_of(app)) if routes_of is not None and app.name == name else ()
            found.append(Target(app, module, seed, routes))
    return found


def _apps_of(namespace: Any) -> list[App]:
    """A demo module's ``app``, else its ``apps``, else every App at its top level."""
    single = getattr(namespace, "app", None)
    if isinstance(single, App):
        return [single]
    listed = getattr(namespace, "apps", None)
    candidates = list(listed) if listed is not None else list(vars(namespace).values())
    unique: dict[int, App] = {id(a): a for a in candidates if isinstance(a, App)}
    return list(unique.values())


def _hook(module: str, submodule: str, attribute: str) -> Callable[..., Any] | None:
    """``module.submodule.attribute`` if the submodule exists and it is callable."""
    if not _exists(f"{module}.{submodule}"):
        return None
    found = getattr(importlib.import_module(f"{module}.{submodule}"), attribute, None)
    return found if callable(found) else None


def app_targets(names: Sequence[str]) -> list[Target]:
    """The Apps named ``module:app`` (a usage error for what is not an App).
    An App named as its module (``eventflux.demos.chat:app``, App ``chat``)
    gets the module's ``web`` routes, as a demo does (not its seed: the data
    of a store you name is yours)."""
    targets: list[Target] = []
    for name in names:
        obj = load_target(name)
        if not isinstance(obj, App):
            raise typer.BadParameter(
                f"{name!r} is {type(obj).__name__}, not an eventflux.App "
                "(eventflux worker runs setup functions; eventflux serve serves Apps)"
            )
        module = name.partition(":")[0]
        routes_of = _hook(module, "web", "routes") if _exists(module) else None
        routes: tuple[Any, ...] = ()
        if routes_of is not None and obj.name == module.rsplit(".", 1)[-1]:
            routes = tuple(routes_of(obj))
        targets.append(Target(obj, module, routes=routes))
    return targets
