"""The Apps a server serves: their workers, pages, projections and relays.

``eventflux serve module:app ...`` (or ``create_app(..., apps=[...])``) hands
the server :class:`eventflux.App` objects. The server runs their subscribers,
relays, projections and tasks on its own store and bus (unless told not to),
mounts their pages under ``/demos/<app name>``, and answers the App-dependent
parts of the API from them: the projections to show and rebuild, the
subjects events are relayed to (for causal chains), the consumer groups they
own.

An App's page templates live in a ``templates`` folder beside the module
that defines the App (for a package, inside the package's folder); a
``static`` folder there is served at ``/demos/<app name>/static/``.

Example::

    served = ServedApps.of([shop_app, bank_app])
    served.subject_of(event)                # "orders.OrderPlaced", or None
    projection = await served.projection("shop-catalog").instance()
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from starlette.routing import BaseRoute

from ..app import App, ProjectionSpec
from ..bus import MessageBus
from ..cqrs import Projection, ReadModel
from ..events import RecordedEvent
from ..exceptions import ConfigurationError
from ..store import EventStore

__all__ = ["ProjectionHandle", "RebuildJob", "ServedApp", "ServedApps", "app_folder"]

log = logging.getLogger("eventflux.server")
_SLOW_STOP = 2.0  # seconds: an App that takes longer to stop is named in the log


def _module_folder(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def app_folder(app: App, module: str | None = None) -> Path | None:
    """The folder of the module that defines ``app``: ``module`` when given
    (``eventflux serve shop:app`` names it), else the imported module that
    holds ``app`` as a global and has a ``templates`` folder with its pages
    (else the first module holding it)."""
    if module is not None and module in sys.modules:
        return _module_folder(sys.modules[module])
    holders: list[Path] = []
    for mod in list(sys.modules.values()):
        namespace = getattr(mod, "__dict__", None)
        if not isinstance(namespace, dict) or mod.__name__ == "__main__":
            continue
        if any(value is app for value in list(namespace.values())):
            folder = _module_folder(mod)
            if folder is not None:
                holders.append(folder)
    for folder in holders:
        templates = folder / "templates"
        if all((templates / page.template).is_file() for page in app.pages):
            return folder
    return holders[0] if holders else None


#: ``async def seed(app)``: first data for a served App, run once its workers run
Seed = Callable[[App], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ServedApp:
    """One served App, where its pages' files are, what fills it with its
    first data (``seed``: the demos have one; it runs once the App's workers
    run, and must leave data that is there already alone), and web routes of
    its own (Starlette routes, mounted under its prefix, behind the server's
    tokens)."""

    app: App
    folder: Path | None = None
    seed: Seed | None = None
    routes: Sequence[BaseRoute] = ()

    @classmethod
    def of(
        cls,
        app: App,
        module: str | None = None,
        seed: Seed | None = None,
        routes: Sequence[BaseRoute] = (),
    ) -> ServedApp:
        """``app`` with the folder of the module that defines it."""
        if not isinstance(app, App):
            raise ConfigurationError(f"a served app must be an eventflux.App, not {app!r}")
        return cls(app, app_folder(app, module), seed, tuple(routes))

    @property
    def name(self) -> str:
        return self.app.name

    @property
    def templates(self) -> Path | None:
        """The folder of its page templates, if it has one."""
        if self.folder is None or not (self.folder / "templates").is_dir():
            return None
        return self.folder / "templates"

    @property
    def static(self) -> Path | None:
        """The folder of its pages' static files, if it has one."""
        if self.folder is None or not (self.folder / "static").is_dir():
            return None
        return self.folder / "static"

    @property
    def prefix(self) -> str:
        """Where its pages are mounted: ``/demos/<app name>``."""
        return f"/demos/{self.app.name}"


@dataclass
class RebuildJob:
    """A projection rebuild: its progress (``position`` of ``head``), then its end."""

    name: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: str = "running"  # running, done, failed
    position: int = 0
    head: int = 0
    replayed: int | None = None
    finished_at: datetime | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def progress(self, position: int, head: int) -> None:
        self.position, self.head = position, max(head, position)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "position": self.position,
            "head": self.head,
            "replayed": self.replayed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }


@dataclass
class ProjectionHandle:
    """A projection of a served App: the running one when the App's workers run
    in this process, else one opened on the App's read model for status and
    rebuilds."""

    app: App
    spec: ProjectionSpec
    job: RebuildJob | None = None
    _model: ReadModel | None = field(default=None, repr=False)
    _instance: Projection | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def running(self) -> bool:
        """True when the App's workers keep this projection up to date here."""
        return self.app.running_now

    @property
    def rebuilding(self) -> bool:
        return self.job is not None and self.job.state == "running"

    async def instance(self) -> Projection:
        """The projection object to ask for status or to rebuild."""
        if self.app.running_now:
            return self.app.projection_instance(self.name)
        async with self._lock:
            if self._instance is None:
                self._model = await self.app.open_read_model()
                self._instance = self.spec.cls(self._model)
            return self._instance

    def start_rebuild(self, store: EventStore) -> RebuildJob:
        """Start a rebuild in the background (the caller checked none runs)."""
        job = RebuildJob(self.name)

        async def rebuild() -> None:
            try:
                projection = await self.instance()
                job.head = await store.last_position()
                job.replayed = await projection.rebuild(store, progress=job.progress)
                job.state = "done"
            except asyncio.CancelledError:
                job.state, job.error = "failed", "cancelled: the server stopped"
                raise
            except Exception as e:
                job.state, job.error = "failed", f"{type(e).__name__}: {e}"
                log.error("rebuilding projection %r failed: %s", self.name, job.error)
            finally:
                job.finished_at = datetime.now(UTC)

        self.job = job
        job.task = asyncio.get_running_loop().create_task(
            rebuild(), name=f"eventflux-rebuild-{self.name}"
        )
        return job

    async def close(self) -> None:
        if self.job is not None and self.job.task is not None and not self.job.task.done():
            self.job.task.cancel()
            await asyncio.gather(self.job.task, return_exceptions=True)
        if self._model is not None:
            await self._model.close()
            self._model, self._instance = None, None


class ServedApps:
    """The Apps one server serves (possibly none)."""

    def __init__(self, apps: Sequence[ServedApp] = ()) -> None:
        names = [a.name for a in apps]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigurationError(f"two served apps share the name {twice[0]!r}")
        self.apps = tuple(apps)
        self.projections: dict[str, ProjectionHandle] = {}
        for served in self.apps:
            for spec in served.app.projections:
                if spec.name in self.projections:
                    other = self.projections[spec.name].app.name
                    raise ConfigurationError(
                        f"apps {other!r} and {served.name!r} both have a projection "
                        f"{spec.name!r}; serve them from different servers"
                    )
                self.projections[spec.name] = ProjectionHandle(served.app, spec)
        self._workers: list[tuple[str, AsyncExitStack]] = []

    @classmethod
    def of(cls, apps: Iterable[App | ServedApp]) -> ServedApps:
        """Served apps from Apps (their folders found) or :class:`ServedApp`."""
        return cls([a if isinstance(a, ServedApp) else ServedApp.of(a) for a in apps])

    def __len__(self) -> int:
        return len(self.apps)

    def find(self, name: str) -> ServedApp | None:
        return next((a for a in self.apps if a.name == name), None)

    def subject_of(self, event: RecordedEvent) -> str | None:
        """The subject a served App relays ``event`` to, if any."""
        for served in self.apps:
            subject = served.app.subject_of(event)
            if subject is not None:
                return subject
        return None

    def group_apps(self) -> dict[str, list[str]]:
        """Consumer group name -> the served Apps subscribing in it."""
        out: dict[str, list[str]] = {}
        for served in self.apps:
            for sub in served.app.subscriptions:
                names = out.setdefault(sub.group, [])
                if served.name not in names:
                    names.append(served.name)
        return out

    def breaker_groups(self) -> dict[int, list[str]]:
        """id(breaker) -> the consumer groups of served Apps that use it."""
        out: dict[int, list[str]] = {}
        for served in self.apps:
            for sub in served.app.subscriptions:
                breaker = sub.options.get("breaker")
                if breaker is not None:
                    out.setdefault(id(breaker), []).append(sub.group)
        return out

    # -- workers ----------------------------------------------------------------------------
    async def start_workers(self, store: EventStore, bus: MessageBus) -> None:
        """Run every App's subscribers, relays, projections and tasks on ``store``
        and ``bus`` (what ``eventflux worker`` runs), until :meth:`stop_workers`;
        then run the seeds (a seed that fails is logged, and the server goes on)."""
        started: list[tuple[str, AsyncExitStack]] = []
        try:
            for served in self.apps:
                stack = AsyncExitStack()
                await stack.enter_async_context(served.app.running(store=store, bus=bus))
                started.append((served.name, stack))
            await bus.ready()
        except BaseException:
            for _, stack in reversed(started):
                await stack.aclose()
            raise
        self._workers = started
        for served in self.apps:
            if served.seed is not None:
                try:
                    await served.seed(served.app)
                except Exception as e:
                    log.warning("app %r: its seed failed: %s: %s", served.name, type(e).__name__, e)

    async def stop_workers(self) -> None:
        """Stop the Apps, the last started first: running handlers finish, then
        relays and tasks stop. An App slow to stop is named in the log."""
        stacks, self._workers = self._workers, []
        for name, stack in reversed(stacks):
            began = time.monotonic()
            await stack.aclose()
            took = time.monotonic() - began
            if took > _SLOW_STOP:
                log.warning(
                    "app %r took %.1f s to stop (its handlers, relays and tasks)", name, took
                )

    async def close(self) -> None:
        """Stop rebuilds, the workers, and close the read models opened here."""
        for handle in self.projections.values():
            await handle.close()
        await self.stop_workers()
