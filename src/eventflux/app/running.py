"""An App while it runs (``async with app.running()``): :class:`Running` holds
the store and bus of one run and what the run started on them (the
projections and their read model, the bus subscribers, the outbox relays,
the sagas and the background tasks), and stops them again when the run ends.

Background tasks and projections are supervised (:func:`supervise`): a task
that raises, or a projection whose store or read model is unavailable, is
logged and started again after a pause that doubles up to a limit.

Example::

    async with AsyncExitStack() as stack:
        state = await Running.open(app, stack, store=None, bus=None)
        try:
            await state.start(app, stack, projections=..., tasks=..., ...)
            ...
        finally:
            await state.stop(app)
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._internal.retrying import UNAVAILABLE
from ..bus import Message, MessageBus, open_bus
from ..bus.outbox import OutboxRelay
from ..codec import Codec
from ..context import ACTOR, CAUSATION_ID, CORRELATION_ID, replace_metadata
from ..cqrs import Projection, ReadModel, open_read_model
from ..exceptions import ConfigurationError
from ..sagas import Sagas
from ..store import EventStore, open_store
from .context import Context
from .handlers import accepts_context, call_handler
from .specs import ProjectionSpec, RelaySpec, SubscriptionSpec, Task

__all__ = ["Running", "RunningApp", "supervise"]


class RunningApp(Protocol):
    """What the running part needs of its App (the App satisfies it)."""

    name: str
    log: Any
    codec: Codec | None
    sagas: Sagas

    @property
    def store_url(self) -> str: ...

    @property
    def bus_url(self) -> str: ...

    @property
    def read_model_url(self) -> str: ...

    def context(self, metadata: Mapping[str, Any], message: Message | None = None) -> Context: ...


@dataclass
class Running:
    """One run of an App: its store and bus, and what the run started on them."""

    store: EventStore
    bus: MessageBus
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    handlers: list[Callable[..., Any]] = field(default_factory=list)
    relays: list[OutboxRelay] = field(default_factory=list)
    read_model: ReadModel | None = None
    projections: dict[str, Projection] = field(default_factory=dict)
    runners: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    #: the bus was given, not opened by the run: stopping unsubscribes the run's handlers
    shared_bus: bool = False

    @classmethod
    async def open(
        cls,
        app: RunningApp,
        stack: AsyncExitStack,
        *,
        store: EventStore | None,
        bus: MessageBus | None,
    ) -> Running:
        """A run on ``store`` and ``bus``; the App's own are opened for the ones
        not given (``stack`` closes them)."""
        if store is None:
            store = await open_store(app.store_url, codec=app.codec)
            stack.push_async_callback(store.close)
        shared_bus = bus is not None
        if bus is None:
            bus = await open_bus(app.bus_url)
            stack.push_async_callback(bus.close)
        return cls(store, bus, shared_bus=shared_bus)

    async def start(
        self,
        app: RunningApp,
        stack: AsyncExitStack,
        *,
        projections: Sequence[ProjectionSpec],
        read_model: str | None,
        subscriptions: Sequence[SubscriptionSpec],
        relays: Sequence[RelaySpec],
        tasks: Sequence[Task],
        restart: tuple[float, float],
    ) -> None:
        """Start, in this order, the projections (writing to ``read_model``, the
        URL given to the App), the subscribers, the relays, the App's sagas and
        the background tasks. ``restart`` is the first and the longest pause
        before a failed task or projection runs again (:func:`supervise`)."""
        if projections:
            self._start_projections(app, stack, projections, read_model, restart)
        for spec in subscriptions:
            self.subscribe(app, spec)
        for relay in relays:
            outbox = OutboxRelay(
                self.store,
                self.bus,
                subject=relay.subject_of,
                name=f"{app.name}-{relay.name}",
                stream_prefix=relay.stream_prefix or None,
            )
            outbox.start()
            self.relays.append(outbox)
        await app.sagas.start(self.store, self.bus)
        for fn in tasks:
            self.tasks.append(
                asyncio.get_running_loop().create_task(
                    run_task(app, fn, restart), name=f"eventflux-app-{app.name}-{fn.__name__}"
                )
            )

    def subscribe(self, app: RunningApp, spec: SubscriptionSpec) -> None:
        """Subscribe ``spec``'s handler to the bus; each delivery runs in a
        context continuing the message's correlation id, caused by the message."""
        with_ctx = accepts_context(spec.handler)

        async def deliver(msg: Message) -> None:
            headers = msg.headers
            meta: dict[str, Any] = {
                CORRELATION_ID: headers.get(CORRELATION_ID) or msg.msg_id,
                CAUSATION_ID: msg.msg_id,
            }
            actor = headers.get(ACTOR)
            if actor:
                meta[ACTOR] = actor
            with replace_metadata(meta) as ambient:
                await call_handler(spec.handler, with_ctx, msg, app.context(ambient, msg))

        deliver.__qualname__ = getattr(spec.handler, "__qualname__", "deliver")
        self.bus.subscribe(spec.subject, deliver, group=spec.group, **spec.options)
        self.handlers.append(deliver)

    def _start_projections(
        self,
        app: RunningApp,
        stack: AsyncExitStack,
        specs: Sequence[ProjectionSpec],
        given: str | None,
        restart: tuple[float, float],
    ) -> None:
        url = given or os.environ.get("EVENTFLUX_READ_MODEL")
        if url is None and app.store_url.startswith("memory:"):
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="eventflux-"))
            url = f"sqlite:///{folder}/{app.name}-read.db"
        model = open_read_model(url or app.read_model_url)
        stack.push_async_callback(model.close)
        self.read_model = model
        loop = asyncio.get_running_loop()
        for spec in specs:
            projection = spec.cls(model)
            self.projections[spec.name] = projection
            runner = loop.create_task(
                run_projection(app, projection, self.store, restart),
                name=f"eventflux-app-{app.name}-projection-{spec.name}",
            )
            self.runners[spec.name] = runner
            self.tasks.append(runner)

    async def settle(self) -> None:
        """Wait until every projection of the run holds every event stored now;
        one that stopped raises its error (else a ConfigurationError)."""
        head = await self.store.last_position()
        for name, projection in self.projections.items():
            runner = self.runners[name]
            waiting = asyncio.ensure_future(projection.wait_for(head))
            try:
                await asyncio.wait({waiting, runner}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not waiting.done():
                    waiting.cancel()
            if not waiting.done() or waiting.cancelled():
                runner.result()  # the projection stopped: its error
                raise ConfigurationError(f"projection {name!r} stopped")

    async def stop(self, app: RunningApp) -> None:
        """Stop the App's sagas, the relays, the background tasks and the
        projections; on a shared bus, drain the run's subscribers too."""
        await app.sagas.stop()
        for outbox in self.relays:
            await outbox.stop()
        for t in self.tasks:
            t.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.shared_bus:  # drain this App's members together; the bus stays open
            await asyncio.gather(*(self.bus.unsubscribe(h) for h in self.handlers))


async def run_task(app: RunningApp, fn: Task, restart: tuple[float, float]) -> None:
    """Run a background task; one that raises is logged and started again."""
    name = getattr(fn, "__name__", repr(fn))
    await supervise(
        lambda: fn(app.context({})),
        Exception,
        "error",
        "task failed",
        log=app.log,
        restart=restart,
        task=name,
    )


async def run_projection(
    app: RunningApp, projection: Projection, store: EventStore, restart: tuple[float, float]
) -> None:
    """Run a projection; an outage of the store or the read model is waited
    out, any other error (a handler's, a wrong store) stops it."""
    try:
        await supervise(
            lambda: projection.run(store),
            UNAVAILABLE,
            "warning",
            "projection waits out an outage",
            log=app.log,
            restart=restart,
            projection=projection.name,
        )
    except asyncio.CancelledError:
        raise
    except Exception as e:
        app.log.error(
            "projection stopped", projection=projection.name, error=f"{type(e).__name__}: {e}"
        )
        raise


async def supervise(
    run: Callable[[], Coroutine[Any, Any, Any]],
    retry: type[Exception] | tuple[type[Exception], ...],
    level: str,
    event: str,
    *,
    log: Any,
    restart: tuple[float, float],
    **fields: Any,
) -> None:
    """``await run()`` until it returns; a ``retry`` error is logged on ``log``
    (at ``level``) and ``run`` starts again after a pause that doubles from the
    first to the longest of ``restart`` (back to the first once a run lasted a
    minute). Other errors propagate."""
    first, longest = restart
    pause = first
    while True:
        began = time.monotonic()
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except retry as e:
            if time.monotonic() - began >= 60.0:
                pause = first
            getattr(log, level)(
                event, **fields, error=f"{type(e).__name__}: {e}", restart_in=round(pause, 3)
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, longest)
