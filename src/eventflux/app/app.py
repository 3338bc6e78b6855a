"""The App: one object wires an application's store, bus and handlers.

Example::

    app = App("orders")   # $EVENTFLUX_STORE / $EVENTFLUX_BUS, else SQLite files here

    @app.command(PlaceOrder)
    async def place(cmd: PlaceOrder, ctx: Context) -> str:
        await ctx.store.append(f"order-{cmd.order_id}", [NewEvent("OrderPlaced", {...})])
        return cmd.order_id

    @app.subscribe("payments.charged", group="shipping")
    async def ship(msg: Message, ctx: Context) -> None: ...

    async with app.running():
        await app.dispatch(PlaceOrder("o-1"), metadata={"actor": "ann"})

Correlation and causation flow without user code: a dispatch opens an
ambient context (:mod:`eventflux.context`) holding the correlation id (the one
given, else the ambient one, else the command's own id), the causation id
(the command's id), the command's type name (``command``), the id of what
caused the command when it was sent while handling something
(``command_causation_id``), and every other key given to ``dispatch``; the store
stamps it on every event appended inside, the bus puts the ids and the actor
in the headers of every message published inside. A delivered message opens
a context whose correlation id is its ``correlation_id`` header (else its
``msg_id``) and whose causation id is its ``msg_id``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

from .._internal.defaults import bus_url, store_url
from .._internal.ids import new_id
from ..bus import Message, MessageBus
from ..bus.subjects import validate_subject
from ..codec import Codec
from ..context import (
    CAUSATION_ID,
    COMMAND,
    COMMAND_CAUSATION_ID,
    CORRELATION_ID,
    current_metadata,
    metadata_context,
)
from ..cqrs import Projection, ReadModel, open_read_model, read_model_url
from ..events import RecordedEvent
from ..exceptions import AppNotRunningError, ConfigurationError, UnknownProjectionError
from ..observability.logs import get_logger
from ..sagas import Saga, SagaRef, Sagas, SagaView
from ..store import EventStore
from .context import BoundOnUse, Context
from .handlers import HandlerTable, Middleware
from .running import Running
from .specs import Page, ProjectionSpec, RelaySpec, SubscriptionSpec, Task

__all__ = ["App", "Page", "ProjectionSpec", "RelaySpec", "SubscriptionSpec"]

H = TypeVar("H", bound=Callable[..., Any])
SagaClass = TypeVar("SagaClass", bound=type[Saga])
#: seconds before a background task that raised runs again; doubles per failure
#: (both are read when the App starts: ``running()`` hands them to its tasks)
TASK_RESTART_FIRST = 0.1
#: the longest pause before a failed background task runs again
TASK_RESTART_MAX = 30.0
_NAME = re.compile(r"[A-Za-z0-9_-]+")
#: the state of a running App, by the name it had before it moved to running.py
_Running = Running


class App:
    """An application: command and query handlers, bus subscribers, background
    tasks and pages, wired to one event store and one message bus by URL.

    ``store`` / ``bus`` are URLs; without them ``$EVENTFLUX_STORE`` /
    ``$EVENTFLUX_BUS`` apply, else the SQLite files ``eventflux.db`` and
    ``eventflux-bus.db`` in the working folder (so the processes of one
    application started in one folder share them). The same module runs on
    ``postgresql://`` and ``nats://`` unchanged.
    """

    def __init__(
        self,
        name: str,
        *,
        store: str | None = None,
        bus: str | None = None,
        read_model: str | None = None,
        codec: Codec | None = None,
        middleware: list[Middleware] | tuple[Middleware, ...] = (),
        query_middleware: list[Middleware] | tuple[Middleware, ...] | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"an App name is letters, digits, '-' and '_' (it names consumer groups), "
                f"not {name!r}"
            )
        for what, url in (("store", store), ("bus", bus), ("read_model", read_model)):
            if url is not None and not isinstance(url, str):
                raise ConfigurationError(f"App {what} must be a URL string, not {url!r}")
        self.name = name
        self._store_url = store
        self._bus_url = bus
        self._read_model_url = read_model
        self.codec = codec
        self._projections: list[ProjectionSpec] = []
        self._commands = HandlerTable("command", middleware)
        self._queries = HandlerTable(
            "query", middleware if query_middleware is None else query_middleware
        )
        self._subscriptions: list[SubscriptionSpec] = []
        self._tasks: list[Task] = []
        self._pages: list[Page] = []
        self._relays: list[RelaySpec] = []
        self._running: Running | None = None
        self.log = get_logger("eventflux.app", app=name)
        self._stdlog = logging.getLogger("eventflux.app")  # where self.log writes
        #: The App's sagas: registration, their runtime, instances and deadlines.
        self.sagas = Sagas(self)

    def __repr__(self) -> str:
        state = "running" if self._running is not None else "stopped"
        return f"<App {self.name!r} {state}>"

    # -- where the store and bus live ---------------------------------------------------
    @property
    def store_url(self) -> str:
        """The store URL this App opens (resolved now, from the environment if not given)."""
        return store_url(self._store_url)

    @property
    def bus_url(self) -> str:
        """The bus URL this App opens (resolved now, from the environment if not given)."""
        return bus_url(self._bus_url)

    @property
    def read_model_url(self) -> str:
        """Where the App's projections write: the ``read_model`` URL given, else
        ``$EVENTFLUX_READ_MODEL``, else ``<app name>-read`` beside the store (a
        file next to a SQLite store, a schema in a PostgreSQL store's database;
        a temporary file for a ``memory://`` store)."""
        return self.read_model_url_for(None)

    def read_model_url_for(self, store_url: str | None) -> str:
        """The App's read model URL for its store at ``store_url`` (default: the
        App's store): the one given or ``$EVENTFLUX_READ_MODEL``, else beside it."""
        given = self._read_model_url or os.environ.get("EVENTFLUX_READ_MODEL")
        return given or read_model_url(store_url or self.store_url, f"{self.name}-read")

    @property
    def read_model(self) -> ReadModel:
        """The read model the App's projections keep (inside ``app.running()``)."""
        state = self._state()
        if state.read_model is None:
            raise ConfigurationError(f"App {self.name!r} has no projection, so no read model")
        return state.read_model

    def projection_instance(self, name_or_class: str | type[Projection]) -> Projection:
        """The running projection registered under ``name_or_class``."""
        name = name_or_class if isinstance(name_or_class, str) else name_or_class.name
        found = self._state().projections.get(name)
        if found is None:
            known = ", ".join(sorted(p.name for p in self._projections)) or "none"
            raise UnknownProjectionError(
                f"App {self.name!r} has no projection {name!r} (it has: {known})"
            )
        return found

    async def settle(self) -> None:
        """Wait until every projection of the App holds every event stored now
        (tests and scripts: read your own writes; bound it with ``asyncio.timeout``)."""
        await self._state().settle()

    def _state(self) -> Running:
        if self._running is None:
            raise AppNotRunningError(
                f"App {self.name!r} is not running; use 'async with app.running():'"
            )
        return self._running

    @property
    def running_now(self) -> bool:
        return self._running is not None

    @property
    def store(self) -> EventStore:
        """The App's event store (inside ``async with app.running()``)."""
        return self._state().store

    @property
    def bus(self) -> MessageBus:
        """The App's message bus (inside ``async with app.running()``)."""
        return self._state().bus

    # -- registration --------------------------------------------------------------------
    def command(self, command_type: type[Any]) -> Callable[[H], H]:
        """Register ``async def handler(cmd, ctx)`` for commands of ``command_type``.

        A second handler for one type raises a ConfigurationError now.
        """

        def register(fn: H) -> H:
            self._commands.register(command_type, fn)
            return fn

        return register

    def query(self, query_type: type[Any]) -> Callable[[H], H]:
        """Register ``async def handler(query, ctx)`` for queries of ``query_type``."""

        def register(fn: H) -> H:
            self._queries.register(query_type, fn)
            return fn

        return register

    def subscribe(
        self, subject: str, *, group: str | None = None, **options: Any
    ) -> Callable[[H], H]:
        """Register ``async def handler(msg, ctx)`` for messages on ``subject``.

        ``group`` defaults to ``<app name>-<handler name>``; ``options`` are the
        bus's ``subscribe`` options (``max_deliver``, ``backoff``, ``concurrency``...).
        The App subscribes it when it runs; N processes running the App share the
        group's work.
        """
        if not isinstance(subject, str):
            raise TypeError(f"a subject is a str, not {subject!r}")
        if group is not None and not (isinstance(group, str) and _NAME.fullmatch(group)):
            raise ConfigurationError(f"a group name matches [A-Za-z0-9_-]+, not {group!r}")

        def register(fn: H) -> H:
            if not callable(fn):
                raise TypeError(f"a handler must be callable, not {fn!r}")
            name = group or f"{self.name}-{getattr(fn, '__name__', 'handler')}"
            name = re.sub(r"[^A-Za-z0-9_-]+", "-", name)
            self._subscriptions.append(SubscriptionSpec(subject, name, fn, dict(options)))
            if self._running is not None:  # registered at run time: subscribe now
                self._running.subscribe(self, self._subscriptions[-1])
            return fn

        return register

    def relay(self, *, stream_prefix: str, subject: str) -> RelaySpec:
        """Publish every event appended to a stream starting with ``stream_prefix``
        to ``subject`` (``{type}`` and ``{stream}`` are replaced), at least once and
        in position order, while the App runs. The message's ``msg_id`` is the
        event's id, its data the event's data, its key the stream, and its headers
        carry the event's correlation id, the event's id as causation id and the
        actor. The relay's checkpoint is kept with the bus.

        Example::

            app.relay(stream_prefix="order-", subject="orders.{type}")
        """
        if not isinstance(stream_prefix, str):
            raise TypeError(f"stream_prefix must be a str, not {stream_prefix!r}")
        if not isinstance(subject, str) or not subject:
            raise ConfigurationError(f"a relay needs a subject template, not {subject!r}")
        probe = subject.replace("{type}", "T").replace("{stream}", "s")
        validate_subject(probe)
        spec = RelaySpec(stream_prefix, subject)
        self._relays.append(spec)
        return spec

    @property
    def relays(self) -> tuple[RelaySpec, ...]:
        return tuple(self._relays)

    def subject_of(self, event: RecordedEvent) -> str | None:
        """The subject this App relays ``event`` to, if any (for causal chains)."""
        for spec in self._relays:
            if event.stream.startswith(spec.stream_prefix):
                return spec.subject_of(event)
        return None

    def projection(self, cls: type[Projection]) -> type[Projection]:
        """Keep the read model of projection class ``cls`` up to date while the App
        runs (checkpointed in the read model, rebuildable with ``eventflux
        projections rebuild NAME --app module:app``). Works as a decorator too.

        Example::

            @app.projection
            class Catalog(Projection): ...
        """
        if not (isinstance(cls, type) and issubclass(cls, Projection)):
            raise TypeError(f"app.projection takes a Projection subclass, not {cls!r}")
        if any(p.name == cls.name for p in self._projections):
            raise ConfigurationError(f"App {self.name!r} already has a projection {cls.name!r}")
        self._projections.append(ProjectionSpec(cls))
        return cls

    @property
    def projections(self) -> tuple[ProjectionSpec, ...]:
        return tuple(self._projections)

    async def open_read_model(self) -> ReadModel:
        """Open the App's read model (what ``running()`` does; the CLI uses it)."""
        return open_read_model(self.read_model_url)

    def task(self, fn: Task) -> Task:
        """Run ``async def fn(ctx)`` in the background while the App runs (a
        simulator, a poller); it is cancelled when the App stops. One that
        raises is logged and run again after a pause (0.1 s, doubling to 30 s)."""
        if not callable(fn):
            raise TypeError(f"a task must be an async function, not {fn!r}")
        self._tasks.append(fn)
        return fn

    def page(self, path: str, template: str, *, context: Callable[..., Any] | None = None) -> None:
        """A web page for ``eventflux serve`` to mount under the App's prefix."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError(f"a page path starts with '/', not {path!r}")
        self._pages.append(Page(path, template, context))

    # -- sagas ---------------------------------------------------------------------------
    def saga(self, cls: SagaClass) -> SagaClass:
        """Run the saga class ``cls`` while the App runs (DESIGN 3.6); works as a
        decorator too. Its instances, deadlines and history: ``app.sagas``.

        Example::

            app.saga(Fulfilment)
        """
        return self.sagas.register(cls)

    async def saga_instance(self, saga: SagaRef, key: str) -> SagaView | None:
        """The instance ``key`` of ``saga`` (a class or its name), or None: a view
        with ``.key``, ``.state``, ``.finished``, ``.outcome`` and ``.deadlines``."""
        self._state()
        return await self.sagas.instance(saga, key)

    @property
    def subscriptions(self) -> tuple[SubscriptionSpec, ...]:
        return tuple(self._subscriptions)

    @property
    def pages(self) -> tuple[Page, ...]:
        return tuple(self._pages)

    @property
    def command_types(self) -> tuple[type[Any], ...]:
        return self._commands.message_types

    @property
    def query_types(self) -> tuple[type[Any], ...]:
        return self._queries.message_types

    # -- dispatching ---------------------------------------------------------------------
    def context(self, metadata: Mapping[str, Any], message: Message | None = None) -> Context:
        """A handler context for ``metadata`` (used by the App's runtimes)."""
        ids = {k: metadata[k] for k in (CORRELATION_ID, CAUSATION_ID) if k in metadata}
        return Context(self, metadata, BoundOnUse(self.log, ids), message)

    async def dispatch(
        self,
        command: object,
        metadata: Mapping[str, Any] | None = None,
        *,
        command_id: str | None = None,
    ) -> Any:
        """Run ``command`` through its handler in-process; return the result.

        Each dispatch gets a command id (a new UUID string, or ``command_id``);
        ``metadata`` (e.g. ``actor``) is stamped on every event the handler
        appends. An unregistered type raises :class:`~eventflux.NoHandlerError`.
        """
        self._commands.lookup(type(command))  # NoHandlerError before anything else
        cid = command_id or new_id()
        given = dict(metadata) if metadata else {}
        outer = current_metadata()
        given[CORRELATION_ID] = given.get(CORRELATION_ID) or outer.get(CORRELATION_ID) or cid
        given[COMMAND] = type(command).__name__
        if outer.get(CAUSATION_ID) is not None and COMMAND_CAUSATION_ID not in given:
            # a command sent while handling something: keep the link to that cause
            given[COMMAND_CAUSATION_ID] = outer[CAUSATION_ID]
        given[CAUSATION_ID] = cid
        started = time.perf_counter()
        with metadata_context(given) as ambient:
            ctx = self.context(ambient)
            try:
                result = await self._commands.call(command, ctx)
            except BaseException as e:
                if not self._stdlog.isEnabledFor(logging.INFO):
                    raise
                ctx.logger.info(
                    "command",
                    command=type(command).__name__,
                    command_id=cid,
                    outcome="error",
                    error=f"{type(e).__name__}: {e}",
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )
                raise
        if not self._stdlog.isEnabledFor(logging.INFO):
            return result
        ctx.logger.info(
            "command",
            command=type(command).__name__,
            command_id=cid,
            outcome="ok",
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return result

    async def ask(self, query: object, metadata: Mapping[str, Any] | None = None) -> Any:
        """Run ``query`` through its handler in-process; return the answer."""
        self._queries.lookup(type(query))
        with metadata_context(metadata or {}) as ambient:
            return await self._queries.call(query, self.context(ambient))

    # -- running ---------------------------------------------------------------------------
    @asynccontextmanager
    async def running(
        self, *, store: EventStore | None = None, bus: MessageBus | None = None
    ) -> AsyncIterator[App]:
        """Open the store and bus and start the subscribers and background tasks;
        leaving the block drains them and closes what it opened.

        ``store`` / ``bus`` share objects that are already open (several Apps in
        one process); the App does not close those.
        """
        if self._running is not None:
            raise ConfigurationError(f"App {self.name!r} is already running")
        async with AsyncExitStack() as stack:
            state = await Running.open(self, stack, store=store, bus=bus)
            self._running = state
            try:
                await state.start(
                    self,
                    stack,
                    projections=self._projections,
                    read_model=self._read_model_url,
                    subscriptions=self._subscriptions,
                    relays=self._relays,
                    tasks=self._tasks,
                    restart=(TASK_RESTART_FIRST, TASK_RESTART_MAX),
                )
                yield self
            finally:
                await state.stop(self)
                self._running = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or the task is cancelled): what ``eventflux
        worker module:app`` does in each worker process."""
        async with self.running():
            await (stop or asyncio.Event()).wait()
